"""Gantry's MCP gateway driven by the official MCP Python SDK (`mcp` on PyPI), as an MCP
client would use it: Streamable HTTP to the gateway, auth discovered from the protected
resource metadata (RFC 9728) and the authorization server metadata (RFC 8414).

Run by crates/gantry/tests/mcp.rs. Scenarios (first argument):

  rest   MCP_URL, CONSUMER_KEY, CONSUMER_SECRET, OTHER_TOKEN, CA_FILE: an MCP server made from
         a REST API. Without a token: 401 and the metadata; a token fetched from the token
         endpoint the metadata names; tools listed and called; bad arguments refused
         (-32602); another application's token refused (403).
  proxy  MCP_URL, TOKEN: a proxied MCP server with one of its tools filtered out.

Prints one JSON object with what it saw; any failed expectation exits non-zero.
"""

import asyncio
import json
import os
import sys

import httpx2
from mcp import Client
from mcp.client.auth.utils import (
    build_oauth_authorization_server_metadata_discovery_urls,
    build_protected_resource_metadata_discovery_urls,
    extract_resource_metadata_from_www_auth,
    handle_auth_metadata_response,
    handle_protected_resource_response,
    validate_metadata_issuer,
)
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "gantry-test", "version": "1"},
    },
}
HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def expect(condition, what):
    if not condition:
        raise AssertionError(what)


def text_of(result):
    return "".join(getattr(c, "text", "") for c in result.content)


async def discover_token(url, consumer_key, consumer_secret, ca_file):
    """401 → resource_metadata → protected resource metadata → AS metadata → token."""
    seen = {}
    async with httpx2.AsyncClient() as gateway:
        refused = await gateway.post(url, json=INITIALIZE, headers=HEADERS)
        expect(refused.status_code == 401, f"no token: expected 401, got {refused.status_code}")
        pointer = extract_resource_metadata_from_www_auth(refused)
        expect(pointer is not None, f"401 without resource_metadata: {refused.headers}")
        seen["resource_metadata"] = pointer
        resource = None
        for candidate in build_protected_resource_metadata_discovery_urls(pointer, url):
            resource = await handle_protected_resource_response(await gateway.get(candidate))
            if resource is not None:
                break
        expect(resource is not None, "no protected resource metadata found")
        expect(str(resource.resource).rstrip("/") == url.rstrip("/"), f"resource {resource.resource} != {url}")
        issuer = str(resource.authorization_servers[0])
        seen["authorization_server"] = issuer
    async with httpx2.AsyncClient(verify=ca_file) as control_plane:
        metadata = None
        for candidate in build_oauth_authorization_server_metadata_discovery_urls(issuer, url):
            found, metadata = await handle_auth_metadata_response(await control_plane.get(candidate))
            if metadata is not None or not found:
                break
        expect(metadata is not None, "no authorization server metadata found")
        validate_metadata_issuer(metadata, issuer)
        token = await control_plane.post(
            str(metadata.token_endpoint),
            data={"grant_type": "client_credentials"},
            auth=(consumer_key, consumer_secret),
        )
        expect(token.status_code == 200, f"token endpoint: {token.status_code} {token.text}")
        seen["token_endpoint"] = str(metadata.token_endpoint)
        return token.json()["access_token"], seen


def connect(url, token):
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"})
    return Client(streamable_http_client(url, http_client=http), raise_exceptions=True)


async def rest():
    url = os.environ["MCP_URL"]
    token, seen = await discover_token(
        url, os.environ["CONSUMER_KEY"], os.environ["CONSUMER_SECRET"], os.environ["CA_FILE"]
    )
    async with connect(url, token) as client:
        tools = await client.list_tools()
        seen["tools"] = sorted(t.name for t in tools.tools)
        seen["protocol_version"] = client.protocol_version
        schema = next(t.input_schema for t in tools.tools if t.name == "getOrder")
        expect(schema["properties"]["orderId"]["type"] == "integer", f"getOrder schema: {schema}")

        found = await client.call_tool("getOrder", {"orderId": 42, "expand": True})
        expect(not found.is_error, f"getOrder failed: {text_of(found)}")
        backend = found.structured_content
        expect(backend["method"] == "GET", f"backend saw {backend}")
        seen["getOrder_backend_path"] = backend["path"]
        seen["getOrder_backend_query"] = backend.get("query")

        made = await client.call_tool("createOrder", {"requestBody": {"item": "pizza", "qty": 2}})
        expect(not made.is_error, f"createOrder failed: {text_of(made)}")
        seen["createOrder_backend"] = {k: made.structured_content.get(k) for k in ("method", "path")}

        failing = await client.call_tool("teapot", {"code": "418"})
        expect(failing.is_error, "a 418 from the backend must be an error result")
        seen["teapot_text"] = text_of(failing)

        try:
            await client.call_tool("getOrder", {"orderId": "forty-two"})
            raise AssertionError("arguments the schema refuses were accepted")
        except MCPError as error:
            seen["bad_arguments_code"] = error.code
            seen["bad_arguments_message"] = error.error.message
    async with httpx2.AsyncClient() as gateway:
        other = await gateway.post(
            url, json=INITIALIZE, headers={**HEADERS, "authorization": f"Bearer {os.environ['OTHER_TOKEN']}"}
        )
        seen["other_application_status"] = other.status_code
    return seen


async def proxy():
    url = os.environ["MCP_URL"]
    seen = {}
    async with connect(url, os.environ["TOKEN"]) as client:
        tools = await client.list_tools()
        seen["tools"] = sorted(t.name for t in tools.tools)
        added = await client.call_tool("add", {"a": 2, "b": 3})
        expect(not added.is_error, f"add failed: {text_of(added)}")
        seen["add"] = text_of(added)
        try:
            await client.call_tool("delete_everything", {})
            raise AssertionError("a filtered-out tool was called")
        except MCPError as error:
            seen["filtered_code"] = error.code
            seen["filtered_message"] = error.error.message
    return seen


if __name__ == "__main__":
    scenario = {"rest": rest, "proxy": proxy}[sys.argv[1]]
    print(json.dumps(asyncio.run(scenario())))
