"""A load balancer in front of the instances for browser tests: one origin, any instance behind it.

Each new TCP connection goes to the first instance that accepts it, so while
A runs every socket lands on A, and once A is killed the browser's reconnect
lands on B. A SharedWorker is per origin, so the tabs of a test must share one
origin while the instance holding their connection dies. It also notes every
WebSocket handshake it forwards (the instance, the path, the Origin header),
so a test can tell how many sockets a browser opened and with which Origin.
"""

import asyncio
import threading
from dataclasses import dataclass

from tests.integration.harness import DaphneInstance, free_port

CHUNK_BYTES = 64 * 1024
CONTROL_TIMEOUT_SECS = 10.0


@dataclass(frozen=True)
class Handshake:
    """One WebSocket handshake as forwarded: which instance got it, its path and its Origin header."""

    instance: str
    path: str
    origin: str | None


def parse_handshake(instance: str, head: bytes) -> Handshake | None:
    """Return the Handshake in a request head, or None if it is not a WebSocket upgrade."""
    lines = head.split(b"\r\n\r\n", 1)[0].decode("latin1").split("\r\n")
    fields = (line.partition(":") for line in lines[1:])
    headers = {name.strip().lower(): value.strip() for name, _, value in fields}
    if headers.get("upgrade", "").lower() != "websocket":
        return None
    return Handshake(instance, lines[0].split(" ")[1], headers.get("origin"))


class FrontDoor:
    """Forward 127.0.0.1:`port` to the first of `instances` that accepts, per connection."""

    def __init__(self, *instances: DaphneInstance) -> None:
        self.instances = instances
        self.port = free_port()
        self.handshakes: list[Handshake] = []
        self._tasks: set[asyncio.Task] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"FrontDoor:{self.port}", daemon=True)
        self._thread.start()
        self._server = self._call(asyncio.start_server(self._serve, "127.0.0.1", self.port))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def handshakes_to(self, path: str) -> list[Handshake]:
        """Return the WebSocket handshakes forwarded so far for `path`, oldest first."""
        return [handshake for handshake in list(self.handshakes) if handshake.path == path]

    def close(self) -> None:
        self._call(self._shut())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(CONTROL_TIMEOUT_SECS)

    def _call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(CONTROL_TIMEOUT_SECS)

    async def _shut(self) -> None:
        self._server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._tasks.add(task)
        try:
            head = await reader.read(CHUNK_BYTES)
            upstream = await self._open_upstream(head) if head else None
            if upstream is not None:
                up_reader, up_writer = upstream
                up_writer.write(head)
                pipes = asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
                try:
                    await pipes
                finally:
                    pipes.cancel()
                    up_writer.close()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            self._tasks.discard(task)

    async def _open_upstream(self, head: bytes):
        for instance in self.instances:
            try:
                upstream = await asyncio.open_connection("127.0.0.1", instance.port)
            except OSError:
                continue
            handshake = parse_handshake(instance.name, head)
            if handshake is not None:
                self.handshakes.append(handshake)
            return upstream
        return None


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until EOF or a reset on either side, then close the writing side."""
    try:
        while chunk := await reader.read(CHUNK_BYTES):
            writer.write(chunk)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()
