"""STOMP heart-beats kept both ways on one connection, at the periods CONNECT negotiated.

The server sends an EOL whenever it has sent nothing for its period; a
client silent for `TOLERANCE` times its period is given up on.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable

from notifications.realtime.supervision import TaskSet

# A client silent for this many of its negotiated periods is closed.
TOLERANCE = 2.0


class HeartBeats:
    """When this connection last sent and received, and the two tasks that act on it."""

    def __init__(self, send_eol: Callable[[], Awaitable[None]], on_silent: Callable[[], Awaitable[None]]):
        self._send_eol = send_eol
        self._on_silent = on_silent
        self.last_sent = self.last_received = time.monotonic()

    def sent(self) -> None:
        self.last_sent = time.monotonic()

    def received(self) -> None:
        self.last_received = time.monotonic()

    def start(self, tasks: TaskSet, sends_ms: int, expects_ms: int) -> None:
        """Start sending every `sends_ms` and watching for `expects_ms` (0: never), as tasks of `tasks`."""
        if sends_ms:
            tasks.spawn(self._send(sends_ms / 1000), "heart-beats out")
        if expects_ms:
            tasks.spawn(self._watch(expects_ms / 1000 * TOLERANCE), "heart-beats in")

    async def _send(self, period: float) -> None:
        while True:
            idle = time.monotonic() - self.last_sent
            if idle >= period:
                await self._send_eol()
                idle = 0.0
            await asyncio.sleep(period - idle)

    async def _watch(self, allowed: float) -> None:
        while True:
            silent = time.monotonic() - self.last_received
            if silent >= allowed:
                await self._on_silent()
                return
            await asyncio.sleep(allowed - silent)
