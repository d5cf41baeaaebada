"""A client that follows one user's stream as the protocol asks: keep the last cursor, resume on connect."""

import asyncio
import time

from websockets.exceptions import ConnectionClosed

from .client import Frame, UserSession, connect_ws, recv_json, recv_until


class StreamFollower:
    """Record every event frame one user's sockets receive, across reconnects."""

    def __init__(self, session: UserSession):
        self.session = session
        self.cursor: str | None = None
        self.events: list[Frame] = []
        self.ws = None

    @property
    def ids(self) -> list[str]:
        return [event["id"] for event in self.events]

    async def connect(self, instance, *, resume: bool = True) -> Frame:
        """Open a socket on `instance`, resume from the last cursor seen; return the `replayed` frame."""
        self.ws = await connect_ws(instance, headers={"Cookie": self.session.cookie_header()})
        welcome = await recv_json(self.ws)
        assert welcome["type"] == "welcome", welcome
        if self.cursor is None:
            self.cursor = welcome["cursor"]
        await self.ws.send(f'{{"type":"resume","cursor":"{self.cursor}"}}')
        skipped: list[Frame] = []
        replayed = await recv_until(self.ws, lambda f: f["type"] == "replayed", timeout=15, skipped=skipped)
        self._record(skipped)
        return replayed

    def _record(self, frames: list[Frame]) -> None:
        for frame in frames:
            if frame["type"] == "event":
                assert self.cursor is None or frame["cursor"] > self.cursor, "cursor went back"
                self.events.append(frame)
                self.cursor = frame["cursor"]

    async def read_for(self, seconds: float) -> None:
        """Record whatever arrives during `seconds`."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                self._record([await recv_json(self.ws, remaining)])
            except AssertionError:
                return

    async def read_until_count(self, count: int, timeout: float) -> None:
        """Record events until `count` have been seen in all; fail after `timeout`."""
        deadline = time.monotonic() + timeout
        while len(self.events) < count:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"saw {len(self.events)} of {count} events within {timeout}s"
            try:
                self._record([await recv_json(self.ws, remaining)])
            except AssertionError:
                continue

    async def disconnect(self) -> None:
        if self.ws is not None:
            try:
                await asyncio.wait_for(self.ws.close(), 5)
            except (ConnectionClosed, TimeoutError):
                pass
            self.ws = None
