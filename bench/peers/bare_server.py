"""The ceiling: a bare `websockets` server that fans out what its publisher sends, and nothing else.

    python -m bench.peers.bare_server PORT

A subscriber opens `/?user=N` and is in the streams `broadcast` and `user.N`.
The publisher opens `/publish` and sends `STREAM TEXT` messages; TEXT goes
to every socket of STREAM as it is (no parsing, no auth, no storage, no
compression). `GET /healthz` answers 200.
"""

import asyncio
import sys
from collections import defaultdict
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, broadcast, serve

BROADCAST = "broadcast"
streams: dict[str, set[ServerConnection]] = defaultdict(set)


def health(connection: ServerConnection, request):
    """Answer `GET /healthz` without a handshake; any other path goes on to the WebSocket."""
    if request.path == "/healthz":
        return connection.respond(200, "ok\n")
    return None


async def publisher(ws: ServerConnection) -> None:
    async for message in ws:
        stream, _, text = message.partition(" ")
        broadcast(streams.get(stream, ()), text)


async def subscriber(ws: ServerConnection, user: str) -> None:
    joined = (BROADCAST, f"user.{user}")
    for stream in joined:
        streams[stream].add(ws)
    try:
        await ws.wait_closed()
    finally:
        for stream in joined:
            streams[stream].discard(ws)


async def handler(ws: ServerConnection) -> None:
    url = urlsplit(ws.request.path)
    if url.path == "/publish":
        await publisher(ws)
    else:
        await subscriber(ws, parse_qs(url.query).get("user", [""])[0])


async def main(port: int) -> None:
    async with serve(
        handler, "127.0.0.1", port, process_request=health, compression=None, max_size=2**20, backlog=1024
    ) as server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
