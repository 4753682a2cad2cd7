"""A real GraphQL server and a graphql-transport-ws client for crates/gantry/tests/graphql.rs.

`serve`: graphql-core executes queries, mutations and subscriptions over aiohttp (POST JSON
and GET ?query= on any path; WebSocket with the graphql-transport-ws protocol); prints
`PORT <n>` once listening and runs until stdin closes.

`subscribe <ws-url> <token> <query>...`: opens one WebSocket (graphql-transport-ws, the
token as a bearer header), subscribes each query (ids "1", "2", …) and prints, as JSON, the
messages received for each id until it completes or errors.
"""

import asyncio
import json
import sys

from aiohttp import WSMsgType, web, ClientSession
from graphql import build_schema, graphql, parse, subscribe, validate

SDL = """
type Query {
  hello: String
  books: [Book!]!
  book(id: ID!): Book
  secret: String
}
type Mutation {
  addBook(title: String!): Book
}
type Subscription {
  ticks(count: Int!): Int
}
type Book {
  id: ID!
  title: String!
  author: Author
}
type Author {
  name: String!
  books: [Book!]!
}
"""

SCHEMA = build_schema(SDL)
AUTHOR = {"name": "Ursula"}
BOOKS = [{"id": "1", "title": "Earthsea", "author": AUTHOR}]
AUTHOR["books"] = BOOKS


def add_book(info, title):
    book = {"id": str(len(BOOKS) + 1), "title": title, "author": AUTHOR}
    BOOKS.append(book)
    return book


ROOT = {
    "hello": lambda info: "world",
    "books": lambda info: BOOKS,
    "book": lambda info, id: next((b for b in BOOKS if b["id"] == id), None),
    "secret": lambda info: "s3cret",
    "addBook": add_book,
}


async def ticks(root, info, count):
    for i in range(1, count + 1):
        await asyncio.sleep(0.05)
        yield i


SCHEMA.subscription_type.fields["ticks"].subscribe = ticks
SCHEMA.subscription_type.fields["ticks"].resolve = lambda event, info, **args: event


async def http(request):
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return await websocket(request)
    if request.method == "GET":
        body = {"query": request.query.get("query"), "operationName": request.query.get("operationName")}
    else:
        body = await request.json()
    result = await graphql(SCHEMA, body.get("query") or "", root_value=ROOT,
                           variable_values=body.get("variables"),
                           operation_name=body.get("operationName"))
    out = {"data": result.data}
    if result.errors:
        out["errors"] = [{"message": e.message} for e in result.errors]
    # What the upstream saw of the credentials: the gateway must keep the token.
    out["seenAuthorization"] = request.headers.get("Authorization")
    return web.json_response(out)


async def websocket(request):
    ws = web.WebSocketResponse(protocols=("graphql-transport-ws",))
    await ws.prepare(request)
    tasks = {}

    async def run(id, payload):
        document = parse(payload["query"])
        errors = validate(SCHEMA, document)
        if errors:
            await ws.send_json({"id": id, "type": "error", "payload": [{"message": e.message} for e in errors]})
            return
        stream = await subscribe(SCHEMA, document, root_value=ROOT,
                                 variable_values=payload.get("variables"),
                                 operation_name=payload.get("operationName"))
        if not hasattr(stream, "__aiter__"):
            await ws.send_json({"id": id, "type": "error", "payload": [{"message": e.message} for e in stream.errors]})
            return
        async for result in stream:
            await ws.send_json({"id": id, "type": "next", "payload": {"data": result.data}})
        await ws.send_json({"id": id, "type": "complete"})

    async for msg in ws:
        if msg.type != WSMsgType.TEXT:
            continue
        message = json.loads(msg.data)
        kind = message.get("type")
        if kind == "connection_init":
            await ws.send_json({"type": "connection_ack"})
        elif kind == "ping":
            await ws.send_json({"type": "pong"})
        elif kind == "subscribe":
            tasks[message["id"]] = asyncio.ensure_future(run(message["id"], message["payload"]))
        elif kind == "complete" and message.get("id") in tasks:
            tasks.pop(message["id"]).cancel()
    for task in tasks.values():
        task.cancel()
    return ws


async def serve():
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", http)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    await runner.cleanup()


async def client(url, token, queries):
    seen = {str(i + 1): [] for i in range(len(queries))}
    open_ids = set(seen)
    async with ClientSession() as session:
        async with session.ws_connect(url, protocols=("graphql-transport-ws",),
                                      headers={"Authorization": f"Bearer {token}"}) as ws:
            await ws.send_json({"type": "connection_init", "payload": {}})
            ack = await ws.receive_json(timeout=10)
            assert ack["type"] == "connection_ack", ack
            for i, query in enumerate(queries):
                await ws.send_json({"id": str(i + 1), "type": "subscribe", "payload": {"query": query}})
            while open_ids:
                message = await ws.receive_json(timeout=10)
                id = message.get("id")
                if id in seen:
                    seen[id].append(message)
                    if message["type"] in ("complete", "error"):
                        open_ids.discard(id)
    print(json.dumps(seen))


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        asyncio.run(serve())
    else:
        asyncio.run(client(sys.argv[2], sys.argv[3], sys.argv[4:]))
