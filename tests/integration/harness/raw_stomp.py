"""A raw STOMP client over a WebSocket, where the ERROR and the close code that follows it show."""

import asyncio

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from notifications.protocol.stomp.decoder import StompDecoder
from notifications.protocol.stomp.frames import SERVER_COMMANDS, StompFrame

RECV_TIMEOUT_SECS = 10.0
MAX_FRAME_BYTES = 2**20


def stomp_frame(command: str, headers: dict[str, str] | None = None, body: str = "") -> str:
    """Return one client frame as text (headers unescaped: the tests' values need no escaping)."""
    lines = [command, *(f"{name}:{value}" for name, value in (headers or {}).items())]
    return "\n".join(lines) + "\n\n" + body + "\x00"


def server_frames(data: str | bytes) -> list[StompFrame]:
    """Return the server frames in `data` (whole frames, heart-beats skipped), as a SockJS message carries them."""
    decoder = StompDecoder(MAX_FRAME_BYTES, commands=SERVER_COMMANDS)
    return [f for f in decoder.feed(data) if not f.is_heartbeat]


class RawStomp:
    """A socket speaking STOMP, its server frames decoded as they come; heart-beats kept apart with their times."""

    def __init__(self, ws: ClientConnection):
        self.ws = ws
        self.decoder = StompDecoder(MAX_FRAME_BYTES, commands=SERVER_COMMANDS)
        self.pending: list[StompFrame] = []
        self.heart_beats: list[float] = []  # loop time each server heart-beat arrived

    async def next(self, timeout: float = RECV_TIMEOUT_SECS) -> StompFrame:
        """Return the next server frame that is not a heart-beat; raise TimeoutError if none comes within `timeout`."""
        while not self.pending:
            await self.read(timeout)
        return self.pending.pop(0)

    async def read(self, timeout: float = RECV_TIMEOUT_SECS) -> None:
        """Read one WebSocket message; its frames go to `pending`, its heart-beats to `heart_beats`."""
        data = await asyncio.wait_for(self.ws.recv(), timeout)
        now = asyncio.get_running_loop().time()
        for decoded in self.decoder.feed(data):
            if decoded.is_heartbeat:
                self.heart_beats.append(now)
            else:
                self.pending.append(decoded)

    async def error_then_close(self, timeout: float = RECV_TIMEOUT_SECS) -> tuple[str, int]:
        """Return the ERROR's message and the close code that follows it."""
        error = await self.next(timeout)
        assert error.command == "ERROR", error
        try:
            while True:
                await asyncio.wait_for(self.ws.recv(), timeout)
        except ConnectionClosed:
            pass
        return error.get("message"), self.ws.close_code
