"""One client per protocol of PROTOCOL sections 1 and 4, to open a socket and end it as that client would.

Each `open()` returns once the stream started (the JSON `welcome`, STOMP
`CONNECTED`, MQTT `CONNACK` 0, SSE `event: welcome`, the SockJS welcome)
and keeps the connection id when the protocol tells it (MQTT does not).
Credentials: a signed-in `UserSession`'s cookie, or a token (`?token=`, no
Origin, no cookie). `close()` ends it from the client side; `read_close()`
waits for the server to end it and returns the close code it saw.
"""

import asyncio
import json
import secrets
import time

import httpx
from websockets.exceptions import ConnectionClosed

from .client import UserSession, connect_ws, expect_close, recv_json
from .raw_stomp import RawStomp, server_frames, stomp_frame

OPEN_TIMEOUT_SECS = 10.0
# CONNECT: MQTT 3.1.1, clean session, the keep-alive in seconds, an empty client id.
MQTT_CONNACK_ACCEPTED = bytes((0x20, 2, 0, 0))
MQTT_DISCONNECT = bytes((0xE0, 0))
MQTT_PUBLISH = bytes((0x30, 5, 0, 1)) + b"t" + b"hi"
STOMP_CONNECT = stomp_frame("CONNECT", {"accept-version": "1.2", "heart-beat": "0,0"})


def mqtt_connect(keep_alive_secs: int = 0) -> bytes:
    """Return a clean-session CONNECT with an empty client id."""
    return bytes((0x10, 12, 0, 4)) + b"MQTT" + bytes((4, 2, 0, keep_alive_secs, 0, 0))


def sockjs_path(endpoint: str) -> str:
    return f"/sockjs/{endpoint}/000/{secrets.token_hex(8)}"


class Credentials:
    """How a client authenticates: a signed-in user's cookie, or a token sent with no Origin."""

    def __init__(self, user: UserSession | None = None, token: str | None = None):
        self.user, self.token = user, token

    def ws_kwargs(self) -> dict:
        if self.token is not None:
            return {"origin": None, "query": {"token": self.token}}
        return {"headers": {"Cookie": self.user.cookie_header()}}

    def http_kwargs(self) -> dict:
        if self.token is not None:
            return {"params": {"token": self.token}}
        return {"headers": {"Cookie": self.user.cookie_header()}}


class SocketClient:
    """A WebSocket client of one protocol; subclasses say how the stream starts."""

    protocol = ""
    path = ""
    subprotocols: list[str] | None = None
    closes_with: int | None = 1000  # the close code `close()` ends the connection with, as the server sees it

    def __init__(self, instance, credentials: Credentials):
        self.instance, self.credentials = instance, credentials
        self.connection_id: str | None = None
        self.ws = None

    async def open(self) -> "SocketClient":
        kwargs = self.credentials.ws_kwargs()
        self.ws = await connect_ws(self.instance, self.path, subprotocols=self.subprotocols, **kwargs)
        await asyncio.wait_for(self.start(), OPEN_TIMEOUT_SECS)
        return self

    async def start(self) -> None:
        raise NotImplementedError("a socket client says how its stream starts")

    async def close(self) -> None:
        await self.ws.close()

    async def read_close(self, timeout: float = OPEN_TIMEOUT_SECS) -> int:
        return await expect_close(self.ws, timeout)

    async def send_until_closed(self, message, count: int) -> None:
        """Send `message` up to `count` times without reading, until the server closes."""
        try:
            for _ in range(count):
                await self.ws.send(message)
        except ConnectionClosed:
            pass


class JsonClient(SocketClient):
    protocol, path = "json", "/ws/notifications/"

    async def start(self) -> None:
        welcome = await recv_json(self.ws)
        assert welcome["type"] == "welcome", welcome
        self.connection_id = welcome["connection_id"]


class StompClient(SocketClient):
    protocol, path, subprotocols = "stomp", "/ws/stomp/", ["v12.stomp"]

    async def start(self) -> None:
        self.stomp = RawStomp(self.ws)
        await self.ws.send(STOMP_CONNECT)
        connected = await self.stomp.next()
        assert connected.command == "CONNECTED", connected
        self.connection_id = connected.get("session")

    async def disconnect(self) -> None:
        """Send DISCONNECT with a receipt; the server answers RECEIPT and closes 1000."""
        await self.ws.send(stomp_frame("DISCONNECT", {"receipt": "bye"}))
        assert (await self.stomp.next()).command == "RECEIPT"


class MqttClient(SocketClient):
    protocol, path, subprotocols = "mqtt", "/mqtt", ["mqtt"]
    keep_alive_secs = 0

    async def start(self) -> None:
        await self.ws.send(mqtt_connect(self.keep_alive_secs))
        assert await self.ws.recv() == MQTT_CONNACK_ACCEPTED


class SockJsJsonClient(SocketClient):
    """sockjs-json over SockJS's `websocket` transport: `o`, then `a["<welcome>"]`."""

    protocol, endpoint = "sockjs-json", "notifications"

    def __init__(self, instance, credentials: Credentials):
        super().__init__(instance, credentials)
        self.path = sockjs_path(self.endpoint) + "/websocket"

    async def start(self) -> None:
        assert await self.ws.recv() == "o"
        welcome = json.loads((await self.next_messages())[0])
        assert welcome["type"] == "welcome", welcome
        self.connection_id = welcome["connection_id"]

    async def next_messages(self, timeout: float = OPEN_TIMEOUT_SECS) -> list[str]:
        """Return the messages of the next `a[...]` frame (heartbeats skipped)."""
        while (frame := await asyncio.wait_for(self.ws.recv(), timeout)) == "h":
            pass
        assert frame.startswith("a["), frame
        return json.loads(frame[1:])

    async def send_messages(self, *messages: str) -> None:
        await self.ws.send(json.dumps(list(messages)))


class SockJsStompClient(SockJsJsonClient):
    """sockjs-stomp over SockJS's `websocket` transport: `o`, CONNECT, `a["CONNECTED..."]`."""

    protocol, endpoint = "sockjs-stomp", "stomp"

    async def start(self) -> None:
        assert await self.ws.recv() == "o"
        await self.send_messages(STOMP_CONNECT)
        (connected,) = server_frames((await self.next_messages())[0])
        assert connected.command == "CONNECTED", connected
        self.connection_id = connected.get("session")


class SseClient:
    """An event stream over httpx: `event: welcome` first; closing the response is the client leaving."""

    protocol = "sse"
    closes_with = None  # an HTTP response has no close code

    def __init__(self, instance, credentials: Credentials):
        self.instance, self.credentials = instance, credentials
        self.connection_id: str | None = None

    async def open(self) -> "SseClient":
        timeout = httpx.Timeout(OPEN_TIMEOUT_SECS, read=60)
        self.http = httpx.AsyncClient(base_url=self.instance.url, trust_env=False, timeout=timeout)
        request = self.http.build_request("GET", "/api/v1/stream/", **self.credentials.http_kwargs())
        self.response = await self.http.send(request, stream=True)
        assert self.response.status_code == 200, self.response.status_code
        self.lines = self.response.aiter_lines()
        welcome = await asyncio.wait_for(self.next_message(), OPEN_TIMEOUT_SECS)
        assert welcome["event"] == "welcome", welcome
        self.connection_id = welcome["data"]["connection_id"]
        return self

    async def next_message(self) -> dict:
        """Return the next dispatched message as {"event", "data"} (comments skipped)."""
        fields: dict = {}
        async for line in self.lines:
            if line == "" and "data" in fields:
                return fields
            if line and not line.startswith(":"):
                name, _, value = line.partition(": ")
                fields[name] = json.loads(value) if name == "data" else value
        raise AssertionError("the stream ended without a message")

    async def close(self) -> None:
        try:
            await self.response.aclose()
        finally:
            await self.http.aclose()


class SockJsXhrClient:
    """sockjs-json over xhr polling; it ends when its client stops polling (SockJS's disconnect delay)."""

    protocol = "sockjs-json"
    closes_with = 1001  # the session's own end once nobody polls

    def __init__(self, instance, credentials: Credentials):
        self.instance, self.credentials = instance, credentials
        self.path = sockjs_path("notifications")
        self.connection_id: str | None = None

    async def open(self) -> "SockJsXhrClient":
        async with httpx.AsyncClient(base_url=self.instance.url, trust_env=False, timeout=OPEN_TIMEOUT_SECS) as http:
            kwargs = self.credentials.http_kwargs()
            assert (await http.post(self.path + "/xhr", **kwargs)).text == "o\n"
            deadline = time.monotonic() + OPEN_TIMEOUT_SECS
            while (frame := (await http.post(self.path + "/xhr", **kwargs)).text.rstrip("\n")) == "h":
                assert time.monotonic() < deadline, "no welcome"
        welcome = json.loads(json.loads(frame[1:])[0])
        assert welcome["type"] == "welcome", welcome
        self.connection_id = welcome["connection_id"]
        return self

    async def close(self) -> None:
        """Stop polling: the session ends after the disconnect delay."""


CLIENTS = (JsonClient, StompClient, MqttClient, SseClient, SockJsJsonClient, SockJsStompClient, SockJsXhrClient)
