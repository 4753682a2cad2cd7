"""A real WebSocket server and client (Python `websockets`) for the WebSocket API tests,
crates/gantry/tests/streaming_apis.rs.

  python3 ws_peer.py serve            prints "PORT <n>", serves until stdin closes
  python3 ws_peer.py client URL TOKEN ACTIONS
                                      connects to URL (bearer TOKEN, "-" for none), runs
                                      ACTIONS (a JSON list) and prints one JSON object:
                                      {"status": handshake refusal status or null,
                                       "received": [messages], "close": [code, reason]}

The server greets each connection with "welcome <path>" and answers every message with
"echo <path>: <message>"; "burst N" makes it send N messages at once.

Actions: ["send", text], ["recv"] (one message), ["drain"] (messages until the connection
closes, at most 30 s).
"""

import asyncio
import json
import sys

import websockets


async def handler(ws):
    path = ws.request.path
    try:
        await ws.send(f"welcome {path}")
        async for message in ws:
            if isinstance(message, str) and message.startswith("burst "):
                for i in range(int(message.split()[1])):
                    await ws.send(f"burst {i}")
            else:
                await ws.send(f"echo {path}: {message}")
    except websockets.exceptions.ConnectionClosed:
        pass  # the gateway closed the connection: what the tests check


async def serve():
    async with websockets.serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"PORT {port}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


async def client(url, token, actions):
    headers = {} if token == "-" else {"Authorization": f"Bearer {token}"}
    result = {"status": None, "received": [], "close": None}
    try:
        ws = await websockets.connect(url, additional_headers=headers, open_timeout=10)
    except websockets.exceptions.InvalidStatus as refused:
        result["status"] = refused.response.status_code
        return result
    try:
        for action in actions:
            if action[0] == "send":
                await ws.send(action[1])
            elif action[0] == "recv":
                result["received"].append(await asyncio.wait_for(ws.recv(), 10))
            elif action[0] == "drain":
                async def drain():
                    async for message in ws:
                        result["received"].append(message)
                await asyncio.wait_for(drain(), 30)
    except websockets.exceptions.ConnectionClosed:
        pass
    finally:
        await ws.close()
    if ws.close_code is not None:
        result["close"] = [ws.close_code, ws.close_reason]
    return result


def main():
    if sys.argv[1] == "serve":
        asyncio.run(serve())
    else:
        url, token, actions = sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
        print(json.dumps(asyncio.run(client(url, token, actions))), flush=True)


if __name__ == "__main__":
    main()
