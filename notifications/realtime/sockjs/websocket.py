"""The SockJS `websocket` transport (`.../<server>/<session>/websocket`): SockJS frames over one WebSocket.

The adapter runs as on `/ws/...`, framed the SockJS way: `o` once accepted,
each message as `a["..."]`, `h` every heartbeat period, `c[code,"reason"]`
before the close. A client message is a JSON array of strings (or one string).
"""

import asyncio

from django.urls import re_path

from notifications.protocol import sockjs
from notifications.realtime.sockjs.bridge import reason_of
from notifications.realtime.sockjs.endpoints import ENDPOINTS, available
from notifications.realtime.sockjs.sessions import heartbeat_secs

_ID = r"[A-Za-z0-9_-]{1,64}"


def sockjs_websocket(consumer_class: type, protocol: str) -> type:
    """Return a subclass of a socket adapter that speaks SockJS framing and names its connections `protocol`."""

    class SockJsWebsocket(consumer_class):
        protocol_name = protocol
        _beating: asyncio.Task | None = None
        _closing = False

        async def accept(self, subprotocol=None, headers=None) -> None:
            await super().accept()
            await super().send(text_data=sockjs.OPEN)
            self._beating = asyncio.get_running_loop().create_task(self._beat())

        async def _beat(self) -> None:
            while True:
                await asyncio.sleep(heartbeat_secs())
                await super().send(text_data=sockjs.HEARTBEAT)

        async def send(self, text_data=None, bytes_data=None, close=False) -> None:
            if text_data is not None and not self._closing:
                await super().send(text_data=sockjs.messages([text_data]))

        async def close(self, code=None, reason=None) -> None:
            code = code or 1000
            if self._beating is not None and not self._closing:
                await super().send(text_data=sockjs.close(code, reason_of(code)))
            self._closing = True
            await super().close(code=code)

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
