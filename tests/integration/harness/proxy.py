"""A TCP proxy that tests break on purpose: cut, restore, stall, resume.

It runs its own event loop in a daemon thread, so sync tests and async tests
(on any loop) drive it with the same plain method calls; each call returns once
the proxy has done it.

    with TcpProxy("127.0.0.1", 5672) as proxy:
        url = f"amqp://guest:guest@127.0.0.1:{proxy.port}/"
        proxy.cut()      # connections reset, new ones refused
        proxy.restore()  # listening and forwarding again
        proxy.stall()    # silent partition: connections stay open, no byte moves
        proxy.resume_forwarding()
"""

import asyncio
import socket
import struct
import threading
import urllib.parse
from collections.abc import Coroutine
from typing import Any

from .ports import free_port

CHUNK_BYTES = 64 * 1024
CONTROL_TIMEOUT_SECS = 10.0
UPSTREAM_CONNECT_TIMEOUT_SECS = 5.0
THREAD_JOIN_TIMEOUT_SECS = 10.0


class ProxyClosedError(RuntimeError):
    """The proxy was closed; create a new one instead of reusing it."""


class _Link:
    """One client connection and, once forwarding, its upstream connection."""

    def __init__(self, client: asyncio.StreamWriter, task: asyncio.Task) -> None:
        self.client = client
        self.upstream: asyncio.StreamWriter | None = None
        self.task = task

    def reset(self) -> None:
        """Drop both sides at once with a TCP reset, as a broken network does."""
        for writer in (self.client, self.upstream):
            if writer is not None:
                _abort_with_reset(writer)
        self.task.cancel()


def _abort_with_reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


class TcpProxy:
    """Forward 127.0.0.1:`port` to `target_host`:`target_port` until told otherwise."""

    def __init__(self, target_host: str, target_port: int, port: int | None = None) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.port = port or free_port()
        self.connections_accepted = 0
        self._links: set[_Link] = set()
        self._server: asyncio.Server | None = None
        self._closed = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"TcpProxy:{self.port}", daemon=True)
        self._thread.start()
        self._forwarding = self._call(self._make_event())
        self._call(self._listen())

    # --- what tests call -----------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def url_through(self, url: str) -> str:
        """Return `url` (amqp://user:pass@host:port/vhost, ...) with its host and port replaced by the proxy's."""
        parts = urllib.parse.urlsplit(url)
        credentials = parts.netloc.rpartition("@")[0]
        netloc = f"{credentials}@127.0.0.1:{self.port}" if credentials else f"127.0.0.1:{self.port}"
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))

    @property
    def live_connections(self) -> int:
        """Return how many client connections are open through the proxy now."""
        return self._call(self._count())

    @property
    def is_listening(self) -> bool:
        return self._server is not None

    @property
    def is_forwarding(self) -> bool:
        return self._forwarding.is_set()

    def cut(self) -> None:
        """Reset every live connection and refuse new ones until `restore()`."""
        self._call(self._cut())

    def restore(self) -> None:
        """Listen and forward again: undo both `cut()` and `stall()`."""
        self._call(self._restore())

    def stall(self) -> None:
        """Stop moving bytes either way, keeping connections open; new ones are accepted, not forwarded."""
        self._call(self._set_forwarding(False))

    def resume_forwarding(self) -> None:
        """Move bytes again after `stall()`, including what was held meanwhile."""
        self._call(self._set_forwarding(True))

    def close(self) -> None:
        """Drop every connection, stop listening and stop the thread; safe to call twice."""
        if self._closed:
            return
        try:
            self._call(self._shutdown())
        finally:
            self._closed = True
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(THREAD_JOIN_TIMEOUT_SECS)
            if not self._thread.is_alive():
                self._loop.close()

    def __enter__(self) -> "TcpProxy":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "listening" if self.is_listening else "cut"
        state += "" if self.is_forwarding else ", stalled"
        return f"<TcpProxy 127.0.0.1:{self.port} -> {self.target_host}:{self.target_port} ({state})>"

    # --- the proxy's own loop ------------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        if self._closed:
            coro.close()
            raise ProxyClosedError(f"{self!r} is closed")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(CONTROL_TIMEOUT_SECS)

    async def _make_event(self) -> asyncio.Event:
        event = asyncio.Event()
        event.set()
        return event

    async def _count(self) -> int:
        return len(self._links)

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)

    async def _stop_listening(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()

    async def _cut(self) -> None:
        await self._stop_listening()
        for link in list(self._links):
            link.reset()
        await self._wait_links_gone()

    async def _restore(self) -> None:
        self._forwarding.set()
        await self._listen()

    async def _set_forwarding(self, on: bool) -> None:
        if on:
            self._forwarding.set()
        else:
            self._forwarding.clear()

    async def _shutdown(self) -> None:
        self._forwarding.set()
        await self._cut()
        others = asyncio.all_tasks() - {asyncio.current_task()}
        for task in others:
            task.cancel()
        if others:
            await asyncio.wait(others, timeout=CONTROL_TIMEOUT_SECS / 2)

    async def _wait_links_gone(self) -> None:
        tasks = [link.task for link in self._links]
        if tasks:
            await asyncio.wait(tasks, timeout=CONTROL_TIMEOUT_SECS / 2)

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        # asyncio's server task must not be cancelled (Python 3.11 logs an error
        # then), so the link runs in a task of ours that `cut()` may cancel.
        task = asyncio.create_task(self._forward(client_reader, client_writer))
        await asyncio.wait([task])

    async def _forward(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        link = _Link(client_writer, asyncio.current_task())
        self._links.add(link)
        self.connections_accepted += 1
        try:
            await self._forwarding.wait()
            upstream_reader, link.upstream = await asyncio.wait_for(
                asyncio.open_connection(self.target_host, self.target_port), UPSTREAM_CONNECT_TIMEOUT_SECS
            )
            await self._splice(client_reader, client_writer, upstream_reader, link.upstream)
        except (TimeoutError, OSError):
            pass
        finally:
            self._links.discard(link)
            for writer in (client_writer, link.upstream):
                if writer is not None:
                    writer.transport.abort()

    async def _splice(
        self,
        client_reader: asyncio.StreamReader,
        client_writer: asyncio.StreamWriter,
        upstream_reader: asyncio.StreamReader,
        upstream_writer: asyncio.StreamWriter,
    ) -> None:
        pumps = {
            asyncio.create_task(self._pump(client_reader, upstream_writer)),
            asyncio.create_task(self._pump(upstream_reader, client_writer)),
        }
        try:
            done, pending = await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            # A clean end of one direction is a half-close: let the other finish.
            if pending and all(task.result() for task in done):
                await asyncio.wait(pending)
        finally:
            for task in pumps:
                task.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Copy one direction; return True on a clean end of stream, False on an error."""
        try:
            while chunk := await reader.read(CHUNK_BYTES):
                await self._forwarding.wait()
                writer.write(chunk)
                await writer.drain()
            await self._forwarding.wait()
            if writer.can_write_eof():
                writer.write_eof()
            return True
        except OSError:
            return False
