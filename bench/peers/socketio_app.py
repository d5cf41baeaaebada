"""The python-socketio peer: an `AsyncServer` on `AsyncAioPikaManager`, served by uvicorn.

    uvicorn bench.peers.socketio_app:app     # BENCH_SOCKETIO_AMQP_URL, BENCH_SOCKETIO_EXCHANGE

As its documentation deploys it: every server process consumes the manager's
fanout exchange, and an external `AsyncAioPikaManager(write_only=True)`
publishes to it. A client sends `{"user": N}` as its CONNECT auth and joins
the room `user.N`; broadcasts go to every client. `GET /healthz` answers 200.
"""

import os

import socketio

manager = socketio.AsyncAioPikaManager(
    os.environ["BENCH_SOCKETIO_AMQP_URL"], channel=os.environ["BENCH_SOCKETIO_EXCHANGE"]
)
sio = socketio.AsyncServer(async_mode="asgi", client_manager=manager, cors_allowed_origins="*")


@sio.event
async def connect(sid, environ, auth):
    if not isinstance(auth, dict) or "user" not in auth:
        raise socketio.exceptions.ConnectionRefusedError("auth needs a user")
    await sio.enter_room(sid, f"user.{auth['user']}")


async def health(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok\n"})


app = socketio.ASGIApp(sio, other_asgi_app=health)
