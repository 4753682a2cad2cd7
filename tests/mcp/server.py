"""A third-party MCP server for Gantry's proxy test, built with the official MCP Python SDK
(`mcp` on PyPI): three tools over Streamable HTTP at http://127.0.0.1:<port>/mcp. Every tool
call is appended to the file named by CALLS_LOG, so the test can tell which calls reached it.

Usage: python3 server.py <port> <calls-log>
"""

import sys

from mcp.server.mcpserver import MCPServer

port = int(sys.argv[1])
calls_log = sys.argv[2]

server = MCPServer("upstream-tools")


def record(name: str) -> None:
    with open(calls_log, "a", encoding="utf-8") as log:
        log.write(name + "\n")


@server.tool()
def add(a: int, b: int) -> int:
    """Adds two integers."""
    record("add")
    return a + b


@server.tool()
def shout(text: str) -> str:
    """Upper-cases a text."""
    record("shout")
    return text.upper()


@server.tool()
def delete_everything() -> str:
    """A tool the gateway must never let through."""
    record("delete_everything")
    return "deleted"


server.run(transport="streamable-http", host="127.0.0.1", port=port)
