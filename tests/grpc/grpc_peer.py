"""A real gRPC server and client (grpcio, gRPC's C core) for the gateway's gRPC passthrough
test, crates/gantry/tests/gateway_http2.rs. Messages are raw bytes (no protobuf schema),
so no code generation is needed.

  python3 grpc_peer.py serve          prints "PORT <n>", serves until stdin closes
  python3 grpc_peer.py call HOST:PORT AUTHORITY TOKEN
                                      runs the scenarios through the gateway at HOST:PORT
                                      (as AUTHORITY, the gateway's virtual host) and prints
                                      one JSON object with what each call saw

Service gantry.test.Echo:
  Unary         answers "echo:" + request, with trailing metadata x-trailer: kept
  Fail          aborts with NOT_FOUND "no such thing"
  ServerStream  sends "first", waits 1 s, sends "last"
  Chat          (bidi) answers every "ping-N" with "pong-N" as it arrives
"""

import json
import queue
import sys
import time
from concurrent import futures

import grpc

SERVICE = "gantry.test.Echo"


def unary(request, context):
    context.set_trailing_metadata((("x-trailer", "kept"),))
    seen = dict(context.invocation_metadata())
    # What the upstream was told about the caller: the gateway removes the token.
    return b"echo:" + request + b"|auth=" + (b"yes" if "authorization" in seen else b"no")


def fail(request, context):
    context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")


def server_stream(request, context):
    yield b"first"
    time.sleep(1.0)
    yield b"last"


def chat(requests, context):
    for message in requests:
        yield b"pong-" + message.split(b"-", 1)[1]


def serve():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
        "Chat": grpc.stream_stream_rpc_method_handler(chat),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"PORT {port}", flush=True)
    sys.stdin.read()  # the test closes stdin (or dies) to stop the server
    server.stop(0)


def outcome(call):
    """Runs `call`; the response and trailers, or the error's code and details."""
    try:
        response, rpc = call()
        return {
            "code": "OK",
            "response": response.decode(),
            "trailers": {k: v for k, v in (rpc.trailing_metadata() or ())},
        }
    except grpc.RpcError as error:
        return {"code": error.code().name, "details": error.details()}


def call(target, authority, token):
    channel = grpc.insecure_channel(target, options=(("grpc.default_authority", authority),))
    grpc.channel_ready_future(channel).result(timeout=10)
    auth = (("authorization", f"Bearer {token}"),)
    unary_call = channel.unary_unary(f"/{SERVICE}/Unary")
    results = {
        "no_token": outcome(lambda: unary_call.with_call(b"hi", timeout=5)),
        "bad_token": outcome(
            lambda: unary_call.with_call(b"hi", timeout=5, metadata=(("authorization", "Bearer x.y.z"),))
        ),
        "unary": outcome(lambda: unary_call.with_call(b"hi", timeout=5, metadata=auth)),
        "fail": outcome(lambda: channel.unary_unary(f"/{SERVICE}/Fail").with_call(b"x", timeout=5, metadata=auth)),
        "down": outcome(
            lambda: channel.unary_unary("/gantry.test.Down/Unary").with_call(b"x", timeout=5, metadata=auth)
        ),
    }

    # Server streaming: "first" must arrive before the stream ends (about 1 s later).
    started = time.monotonic()
    arrivals = []
    try:
        for message in channel.unary_stream(f"/{SERVICE}/ServerStream")(b"go", timeout=10, metadata=auth):
            arrivals.append({"message": message.decode(), "at": time.monotonic() - started})
        results["server_stream"] = {"code": "OK", "arrivals": arrivals}
    except grpc.RpcError as error:
        results["server_stream"] = {"code": error.code().name, "details": error.details(), "arrivals": arrivals}

    # Bidi ping-pong: each ping is sent only once the previous pong came back, so the call
    # completes only if both directions stream through the gateway.
    pongs = queue.Queue()

    def pings():
        for n in range(1, 4):
            yield f"ping-{n}".encode()
            pongs.get(timeout=5)

    received = []
    try:
        for message in channel.stream_stream(f"/{SERVICE}/Chat")(pings(), timeout=10, metadata=auth):
            received.append(message.decode())
            pongs.put(message)
        results["chat"] = {"code": "OK", "received": received}
    except grpc.RpcError as error:
        results["chat"] = {"code": error.code().name, "details": error.details(), "received": received}
    print(json.dumps(results), flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve()
    elif sys.argv[1:2] == ["call"] and len(sys.argv) == 5:
        call(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)
