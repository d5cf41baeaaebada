"""The base of every WebSocket adapter: one session per socket, and no failure that leaves a ghost."""

import logging

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer

from notifications.realtime.session import CLOSE_INTERNAL_ERROR, Session
from notifications.serving import rawframes

logger = logging.getLogger(__name__)


class GuardedSocketConsumer(AsyncWebsocketConsumer):
    """A WebSocket consumer that drives a `Session`; subclasses set `protocol_name` and speak their protocol."""

    # No per-socket layer channel: the hub reads the layer for the whole process.
    channel_layer_alias = "__hub_reads_the_layer__"
    groups = ()  # none: shared, where channels would give each socket an empty list
    protocol_name = ""
    session: Session | None = None

    async def __call__(self, scope, receive, send) -> None:
        """Serve the socket's ASGI messages in turn on this task, until a handler raises StopConsumer.

        channels' own loop awaits each `receive()` in a task of its own and an
        `asyncio.wait` over it, built to race a per-socket layer channel; with
        none here, that was a task, a wait and their futures for every message
        and for every idle socket, for nothing. Messages are handled one at a
        time, in order, as there.
        """
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass

    async def dispatch(self, message: dict) -> None:
        """Run the handler of an ASGI message; an unexpected error ends the session and closes with 1011.

        Without this, the error would end the application instance: daphne
        closes with 1011 but `disconnect` never runs, so the hub and presence
        would keep the socket. channels 4.2+ would also hop to its one shared
        sync thread before every message to close stale database connections;
        every query here goes through `database_sync_to_async`, which does
        that itself, so the hop only serialised all sockets' frames.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        try:
            await handler(message)
        except StopConsumer:
            raise
        except Exception:
            logger.exception(
                "%s socket failed handling %s", self.protocol_name, message["type"], extra=self._log_context()
            )
            await self._fail()

    async def send_fast(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Send one frame as `send` does, straight to daphne's socket when it can (serving/rawframes.py).

        For the frames sent by the thousand (events); the order with frames
        sent through `send` holds, since both write before they return.
        """
        raw = rawframes.protocol_of(self.scope)
        if raw is not None:
            if rawframes.is_closing(raw):
                return  # autobahn would raise; the client resumes from its cursor on its next connection
            if text_data is not None and rawframes.send_text(raw, text_data):
                return
            if text_data is None and rawframes.send_binary(raw, bytes_data):
                return
        await self.send(text_data=text_data, bytes_data=bytes_data)

    async def close(self, code=None, reason=None) -> None:
        """Close the socket from this side; its session notes the code, which names the disconnect's reason."""
        if self.session is not None:
            self.session.closing(code)
        await super().close(code=code, reason=reason)

    async def _fail(self) -> None:
        if self.session is not None:
            await self.session.fail()
        else:
            await self.close(code=CLOSE_INTERNAL_ERROR)

    def _log_context(self, event: str = "ws.failed") -> dict:
        if self.session is None:
            return {"event": event, "protocol": self.protocol_name}
        return self.session.log_context(event)
