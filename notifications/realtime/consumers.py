"""The WebSocket endpoint `/ws/notifications/` (PROTOCOL section 1).

Thin: frames are parsed in `frames.py`, delivery order lives in
`delivery.py`, routing from the layer in `hub.py`, state changes in
`actions.py`. This class wires them to one socket.
"""

import asyncio
import logging
import uuid
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.utils import timezone

from notifications import conf
from notifications.errors import FrameError, FrameNotFound, NotFound, RateLimited
from notifications.ops import metrics
from notifications.protocol import frames
from notifications.protocol.cursors import Cursor
from notifications.protocol.layer_messages import READ_MESSAGE, SESSION_ENDED_MESSAGE
from notifications.realtime.delivery import OrderedDelivery
from notifications.realtime.hub import Hub
from notifications.realtime.ratelimit import FrameRateLimiter, Verdict
from notifications.store import actions, streams, tickets

logger = logging.getLogger(__name__)

SUPPORTED_SUBPROTOCOLS = ("notify.v1.json",)
CLOSE_NOT_AUTHENTICATED = 4401
CLOSE_SESSION_ENDED = 4000
CLOSE_FLOODING = 4429
CLOSE_TOO_BIG = 1009
CLOSE_GOING_AWAY = 1001


def _redeem_with_head(raw_ticket: str) -> tuple[tickets.RedeemedTicket | None, Cursor | None]:
    """Claim a ticket and read its user's stream head in one thread hop (it runs on every ticket connect)."""
    redeemed = tickets.redeem_ticket(raw_ticket)
    if redeemed is None or not redeemed.user.is_active:
        return None, None
    return redeemed, streams.head_cursor(redeemed.user.pk)


class NotificationConsumer(AsyncWebsocketConsumer):
    # No per-socket layer channel: the hub reads the layer for the whole process.
    channel_layer_alias = "__hub_reads_the_layer__"

    async def dispatch(self, message: dict) -> None:
        """Run the handler of an ASGI message, without channels' per-message connection cleanup.

        channels 4.2+ hops to its one shared sync thread before every message
        to close stale database connections. Every query here already goes
        through `database_sync_to_async`, which does that around the query, so
        the hop only serialised all sockets' frames through one thread.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        offered = self.scope.get("subprotocols") or []
        subprotocol = next((p for p in offered if p in SUPPORTED_SUBPROTOCOLS), None)
        if offered and subprotocol is None:
            await self.close()  # before accept: the handshake is refused
            return
        user, session_key, how, head = await self._authenticate()
        await self.accept(subprotocol)
        if user is None:
            metrics.SOCKETS_REFUSED.inc()
            logger.info("socket refused: %s", how, extra={"event": "ws.refused", "reason": how, "code": 4401})
            await self.close(code=CLOSE_NOT_AUTHENTICATED)
            return
        await self._start(user, session_key, head)

    async def _authenticate(self) -> tuple:
        """Return the socket's user, session key, how it signed in, and its stream's head when already read."""
        ticket = parse_qs(self.scope.get("query_string", b"").decode()).get("ticket")
        if ticket:
            redeemed, head = await database_sync_to_async(_redeem_with_head)(ticket[0])
            if redeemed is None:
                return None, "", "bad_ticket", None
            return redeemed.user, redeemed.session_key, "ticket", head
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            return None, "", "no_session", None
        session = self.scope.get("session")
        return user, (session.session_key or "") if session is not None else "", "session", None

    async def _start(self, user, session_key: str, head: Cursor | None) -> None:
        self.user = user
        self.user_id = user.pk
        self.session_key = session_key
        self.connection_id = uuid.uuid4().hex
        self.connected_at = timezone.now()
        self.last_activity = self.connected_at
        self.limiter = FrameRateLimiter(
            conf.frames_per_second(), conf.frame_burst(), refusals_before_close=conf.refusals_before_close()
        )
        self.hub = await Hub.ensure_started()
        if self.hub.draining:  # this instance is stopping: go to another one now
            await self.close(code=CLOSE_GOING_AWAY)
            return
        if head is None:
            head = await database_sync_to_async(streams.head_cursor)(self.user_id)
        self.delivery = OrderedDelivery(self.user_id, head, self.send_text)
        self.hub.register(self)
        metrics.SOCKETS_OPENED.inc()
        await self.send_text(
            frames.welcome(
                user_id=self.user_id,
                username=user.get_username(),
                connection_id=self.connection_id,
                cursor=head,
                heartbeat=conf.heartbeat_secs(),
                server_time=timezone.now().isoformat(),
            )
        )
        self.delivery.start(hold_live_secs=conf.resume_grace_secs())
        self._schedule_session_expiry()
        logger.info("socket connected", extra=self._log_context("ws.connect"))

    def _schedule_session_expiry(self) -> None:
        session = self.scope.get("session")
        if session is None or not self.session_key or session.session_key != self.session_key:
            return
        seconds = (session.get_expiry_date() - timezone.now()).total_seconds()
        asyncio.get_running_loop().call_later(max(0.0, seconds), self._end_session_soon)

    def _end_session_soon(self) -> None:
        asyncio.get_running_loop().create_task(self.close(code=CLOSE_SESSION_ENDED))

    async def disconnect(self, code) -> None:
        delivery = getattr(self, "delivery", None)
        if delivery is None:
            return
        self.hub.unregister(self)
        await delivery.stop()
        logger.info("socket closed", extra={**self._log_context("ws.disconnect"), "code": code})

    def _log_context(self, event: str) -> dict:
        """Return the fields every log line about this socket carries (never its ticket or cookie)."""
        return {"event": event, "connection_id": self.connection_id, "user_id": self.user_id}

    async def send_text(self, text: str) -> None:
        await self.send(text_data=text)

    # --- from the client -------------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None) -> None:
        if not hasattr(self, "delivery"):
            return
        size = len(text_data.encode()) if text_data is not None else len(bytes_data or b"")
        if size > conf.max_frame_bytes():
            self._refused("too_big", size=size)
            await self.close(code=CLOSE_TOO_BIG)
            return
        verdict = self.limiter.check()
        if verdict is Verdict.CLOSE:
            self._refused("flooding")
            await self.close(code=CLOSE_FLOODING)
            return
        self.last_activity = timezone.now()
        try:
            if verdict is Verdict.REFUSE:
                raise RateLimited()
            if text_data is None:
                raise FrameError("frames must be UTF-8 JSON text, not binary")
            frame = frames.parse_client_frame(text_data)
            await getattr(self, "on_" + frame.type)(frame)
        except FrameError as exc:
            self._refused(exc.default_code)
            await self.send_text(frames.error(exc.default_code, exc.detail, frames.ref_of(exc)))

    def _refused(self, code: str, **fields) -> None:
        metrics.record_refused(code)
        logger.info("frame refused: %s", code, extra={**self._log_context("ws.frame_refused"), "code": code, **fields})

    async def on_resume(self, frame: frames.ClientFrame) -> None:
        self.delivery.resume(frame.fields["cursor"], frame.ref)

    async def on_ack(self, frame: frames.ClientFrame) -> None:
        try:
            await database_sync_to_async(actions.do_mark_read)(self.user, frame.fields["id"])
        except NotFound as exc:
            error = FrameNotFound(exc.detail)
            error.ref = frame.ref
            raise error from None

    async def on_ping(self, frame: frames.ClientFrame) -> None:
        await self.send_text(frames.pong(frame.fields["ts"], frame.ref))

    # --- from the hub ----------------------------------------------------------------------

    def offer_event(self, message: dict) -> None:
        self.delivery.offer(message)

    def offer_control(self, message: dict) -> None:
        asyncio.get_running_loop().create_task(self._control(message))

    async def _control(self, message: dict) -> None:
        if message["type"] == READ_MESSAGE:
            await self.send_text(frames.read(message["up_to"], message["unread"]))
        elif message["type"] == SESSION_ENDED_MESSAGE and message.get("session_key") in (None, self.session_key):
            await self.close(code=CLOSE_SESSION_ENDED)
