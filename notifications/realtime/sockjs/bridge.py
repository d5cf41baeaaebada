"""Drive a protocol adapter (a socket consumer class) over a SockJS session instead of a WebSocket.

The adapter keeps its own frame handling and its own `close` (a STOMP
ERROR first, the session noting the code); only the ASGI messages it sends
change: `websocket.accept` is the SockJS open frame (already sent), a
`websocket.send` text queues one SockJS message, and `websocket.close`
closes the SockJS session with the same code.
"""

import logging

from channels.exceptions import StopConsumer

logger = logging.getLogger(__name__)

CLOSE_REASONS = {
    1000: "normal closure",
    1001: "going away",
    1002: "Broken framing.",
    1009: "frame too big",
    1011: "internal error",
    4000: "session ended",
    4401: "not authenticated",
    4403: "forbidden",
    4429: "flooding",
}


def reason_of(code: int) -> str:
    """Return the reason a SockJS close frame gives for a close code."""
    return CLOSE_REASONS.get(code, "closed")


class Sink:
    """What a bridged adapter writes to (a SockJS session)."""

    def enqueue(self, message: str) -> None: ...

    async def close_by_server(self, code: int) -> None: ...


def over_sockjs(consumer_class: type, protocol: str) -> type:
    """Return a subclass of `consumer_class` that talks to a `Sink` and names its connections `protocol`."""

    class Bridged(consumer_class):
        protocol_name = protocol

        def __init__(self, scope: dict, sink: Sink):
            super().__init__()
            self.scope = scope
            self.sink = sink

        async def base_send(self, message: dict) -> None:
            """Take what the adapter would send down a WebSocket: text goes to the queue, a close to the session."""
            if message["type"] == "websocket.send" and message.get("text") is not None:
                self.sink.enqueue(message["text"])
            elif message["type"] == "websocket.close":
                await self.sink.close_by_server(message.get("code") or 1000)

        async def open(self) -> None:
            """Run the adapter's handshake (authentication, welcome), guarded like a socket's dispatch."""
            await self._guarded(self.connect)

        async def handle(self, message: str) -> None:
            """Hand one SockJS message to the adapter as one text frame."""
            await self._guarded(self.receive, text_data=message)

        async def _guarded(self, handler, *args, **kwargs) -> None:
            try:
                await handler(*args, **kwargs)
            except StopConsumer:
                await self.sink.close_by_server(1000)
            except Exception:
                logger.exception("sockjs session failed", extra=self._log_context())
                await self._fail()

    Bridged.__name__ = Bridged.__qualname__ = f"SockJs{consumer_class.__name__}"
    return Bridged
