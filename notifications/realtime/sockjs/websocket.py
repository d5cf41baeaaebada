"""The SockJS `websocket` transport (`.../<server>/<session>/websocket`): SockJS frames over one WebSocket.

The adapter runs as on `/ws/...` (its own `close`, a STOMP ERROR first,
unchanged), with the ASGI messages it sends framed the SockJS way: `o` once
accepted, each message as `a["..."]`, `h` every heartbeat period,
`c[code,"reason"]` before the close. A client message is a JSON array of
strings (or one string).
"""

import asyncio

from django.urls import re_path

from notifications.protocol import sockjs
from notifications.realtime.sockjs.bridge import reason_of
from notifications.realtime.sockjs.endpoints import ENDPOINTS, available
from notifications.realtime.sockjs.sessions import heartbeat_secs
from notifications.serving import rawframes

_ID = r"[A-Za-z0-9_-]{1,64}"


def sockjs_websocket(consumer_class: type, protocol: str) -> type:
    """Return a subclass of a socket adapter that speaks SockJS framing and names its connections `protocol`."""

    class SockJsWebsocket(consumer_class):
        protocol_name = protocol
        _beating: asyncio.Task | None = None
        _closing = False

        async def __call__(self, scope, receive, send):
            """Run the adapter with its ASGI messages framed the SockJS way (its own `close` runs unchanged)."""

            async def framed(message: dict) -> None:
                await self._framed(send, message)

            # Every frame is wrapped here: writing one straight to the socket would skip the wrapping.
            return await super().__call__(rawframes.without_raw_frames(scope), receive, framed)

        async def _framed(self, send, message: dict) -> None:
            kind = message["type"]
            if kind == "websocket.accept":
                await send(message)
                await send({"type": "websocket.send", "text": sockjs.OPEN})
                self._beating = asyncio.get_running_loop().create_task(self._beat(send))
            elif kind == "websocket.send":
                if message.get("text") is not None and not self._closing:
                    await send({"type": "websocket.send", "text": sockjs.messages([message["text"]])})
            elif kind == "websocket.close":
                await self._close_framed(send, message.get("code") or 1000)
            else:
                await send(message)

        async def _close_framed(self, send, code: int) -> None:
            if self._beating is not None and not self._closing:
                await send({"type": "websocket.send", "text": sockjs.close(code, reason_of(code))})
            self._closing = True
            await send({"type": "websocket.close", "code": code})

        async def _beat(self, send) -> None:
            while True:
                await asyncio.sleep(heartbeat_secs())
                await send({"type": "websocket.send", "text": sockjs.HEARTBEAT})

        async def receive(self, text_data=None, bytes_data=None) -> None:
            try:
                messages = sockjs.parse_payload(text_data if text_data is not None else bytes_data, allow_string=True)
            except sockjs.BadPayload:
                await self.close(sockjs.CLOSE_INTERRUPTED)
                return
            for message in messages:
                await super().receive(text_data=message)

        async def disconnect(self, code) -> None:
            if self._beating is not None:
                self._beating.cancel()
            await super().disconnect(code)

    SockJsWebsocket.__name__ = SockJsWebsocket.__qualname__ = f"SockJsWebsocket{consumer_class.__name__}"
    return SockJsWebsocket


def websocket_urlpatterns() -> list:
    """Return the websocket routes of the endpoints whose adapters are installed."""
    routes = []
    for name in ENDPOINTS:
        endpoint = available(name)
        if endpoint is not None:
            consumer = sockjs_websocket(endpoint.consumer_class, endpoint.protocol)
            routes.append(
                re_path(rf"^sockjs/{name}/[A-Za-z0-9_-]{{1,64}}/[A-Za-z0-9_-]{{1,64}}/websocket$", consumer.as_asgi())
            )
    return routes
