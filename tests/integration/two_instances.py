"""Two instances on the broker, users, and a raw STOMP socket whose server frames are decoded as they come."""

import asyncio

from websockets.exceptions import ConnectionClosed

from notifications.protocol.stomp.decoder import StompDecoder
from notifications.protocol.stomp.frames import SERVER_COMMANDS

from .harness import Deployment, TokenClient, UserSession, connect_ws
from .robust_service import PASSWORD, USERS_SCRIPT

STOMP_PATH = "/ws/stomp/"
TIMEOUT_SECS = 10.0


def frame(command: str, headers: dict[str, str] | None = None, body: str = "") -> str:
    lines = [command, *(f"{name}:{value}" for name, value in (headers or {}).items())]
    return "\n".join(lines) + "\n\n" + body + "\x00"


class TwoInstances:
    """Instances A (sockets) and B (publishing and other sockets), users, a publish token."""

    def __init__(self, deployment: Deployment, usernames: list[str]):
        self.deployment = deployment
        self.a = deployment.instance("A")
        self.b = deployment.instance("B")
        deployment.manage("shell", "--no-imports", "-c", USERS_SCRIPT.format(names=[*usernames, "boss"]))
        self.token = deployment.create_service_token("worker", "publish", "broadcast")

    def session(self, username: str, instance=None) -> UserSession:
        return UserSession(instance or self.a, username, PASSWORD).login()

    def publisher(self) -> TokenClient:
        return TokenClient(self.b, self.token)


class RawStomp:
    """A raw STOMP socket: frames in order, heart-beats kept apart with the time each arrived."""

    def __init__(self, ws):
        self.ws = ws
        self.decoder = StompDecoder(2**20, commands=SERVER_COMMANDS)
        self.pending = []
        self.heart_beats: list[float] = []

    async def next(self, timeout: float = TIMEOUT_SECS):
        """Return the next frame that is not a heart-beat."""
        while not self.pending:
            await self.read(timeout)
        return self.pending.pop(0)

    async def read(self, timeout: float = TIMEOUT_SECS) -> None:
        """Read one WebSocket message; its frames go to `pending`, its heart-beats to `heart_beats`."""
        data = await asyncio.wait_for(self.ws.recv(), timeout)
        loop = asyncio.get_running_loop()
        for decoded in self.decoder.feed(data):
            if decoded.is_heartbeat:
                self.heart_beats.append(loop.time())
            else:
                self.pending.append(decoded)

    async def error_then_close(self, timeout: float = TIMEOUT_SECS) -> tuple[str, int]:
        """Return the ERROR's message and the close code that follows it."""
        error = await self.next(timeout)
        assert error.command == "ERROR", error
        try:
            while True:
                await asyncio.wait_for(self.ws.recv(), timeout)
        except ConnectionClosed:
            pass
        return error.get("message"), self.ws.close_code


async def connected(service: TwoInstances, username: str, heart_beat: str = "0,0", instance=None) -> RawStomp:
    """Open a STOMP socket signed in as `username`, CONNECT with `heart-beat`, and read CONNECTED."""
    cookie = {"Cookie": service.session(username, instance).cookie_header()}
    ws = await connect_ws(instance or service.a, STOMP_PATH, headers=cookie)
    client = RawStomp(ws)
    await ws.send(frame("CONNECT", {"accept-version": "1.2", "host": "x", "heart-beat": heart_beat}))
    first = await client.next()
    assert first.command == "CONNECTED", first
    return client
