"""The transport-neutral core of one socket: its user, its stream, its limits, its end.

A protocol adapter (`adapters/json_socket.py` for PROTOCOL section 1; STOMP,
MQTT, SockJS and SSE beside it) owns the connection and its wire format; it
drives a `Session` and is driven back through the `Transport` interface. The
session authenticates the handshake, registers with the hub (which calls
`offer_event`, `offer_control` and `close`), delivers the stream in order and
exactly once, applies the frame limits, and ends (logout, expiry,
deactivation, failure) the same way whatever the protocol.
"""

import asyncio
import dataclasses
import logging
import uuid
from typing import Protocol

from channels.db import database_sync_to_async
from django.utils import timezone

from notifications import conf
from notifications.errors import BadFrame, FrameNotFound, NotFound, RateLimited
from notifications.ops import metrics
from notifications.protocol import frames
from notifications.protocol.cursors import Cursor
from notifications.protocol.layer_messages import READ_MESSAGE, SESSION_ENDED_MESSAGE
from notifications.realtime.authentication import Identity, Refusal, authenticate, identify_token
from notifications.realtime.delivery import OrderedDelivery
from notifications.realtime.gateway.dispatch import Gateway
from notifications.realtime.hub import Hub
from notifications.realtime.ratelimit import FrameRateLimiter, Verdict
from notifications.realtime.supervision import TaskSet
from notifications.store import actions, streams

logger = logging.getLogger(__name__)

CLOSE_NOT_AUTHENTICATED = 4401
CLOSE_SESSION_ENDED = 4000
CLOSE_FLOODING = 4429
CLOSE_TOO_BIG = 1009
CLOSE_GOING_AWAY = 1001
CLOSE_INTERNAL_ERROR = 1011


class Transport(Protocol):
    """What a session needs of its protocol adapter; each call is expressed in that protocol's terms.

    `frame_text` of `send_event` is the section-1 `event` object, exactly as
    the JSON protocol sends it; other protocols wrap it as their payload. An
    adapter that routes by the event's id, kind or request defines
    `send_routed_event(frame_text, cursor, facts)` instead, and the delivery
    hands it the `EventFacts` read once per event for every socket.
    """

    async def send_welcome(self, session: "Session") -> None: ...

    async def send_event(self, frame_text: str, cursor: Cursor) -> None: ...

    async def send_replayed(self, count: int, cursor: Cursor, ref: str | None, coalesced: int | None = None) -> None:
        """Say a resume was served; `coalesced` is given only after a coalesced one (the JSON protocol's extension)."""

    async def send_reset(self, reason: str, ref: str | None) -> None: ...

    async def send_read(self, up_to: str, unread: int) -> None: ...

    async def close(self, code: int) -> None: ...


class Session:
    """One authenticated socket's stream and lifetime; what the hub holds as a `LocalConnection`."""

    def __init__(self, transport: Transport, scope: dict, protocol: str):
        self.transport = transport
        self.scope = scope
        self.protocol = protocol
        self._frames_received = metrics.FRAMES_RECEIVED.labels(protocol=protocol)
        self.connection_id = uuid.uuid4().hex
        self.identity: Identity | Refusal | None = None
        self.user = self.user_id = self.hub = self.delivery = None
        self.session_key = ""
        self.connected_at = self.last_activity = timezone.now()
        self.tasks = TaskSet(f"session {self.connection_id}", on_failure=self._task_failed)
        self.gateway = Gateway(self)  # its requests are tasks of self.tasks
        self._expiry: asyncio.TimerHandle | None = None
        self._ended = False
        self.closed_with: int | None = None  # the code this side closed with (the connection events' reason)
        self.end_code: int | None = None

    # --- opening -------------------------------------------------------------------------

    async def authenticate(self) -> bool:
        """Authenticate the handshake (before the adapter accepts); return whether it is authenticated."""
        self.identity = await authenticate(self.scope)
        return isinstance(self.identity, Identity)

    async def start(self) -> None:
        """Start the stream once the adapter accepted, or close: 4401 unauthenticated, 1001 while draining."""
        if not isinstance(self.identity, Identity):
            await self._refuse(self.identity.reason if self.identity else "no_session")
            return
        self.user, self.user_id, self.session_key = self.identity.user, self.identity.user.pk, self.identity.session_key
        self.limiter = FrameRateLimiter(
            conf.frames_per_second(), conf.frame_burst(), refusals_before_close=conf.refusals_before_close()
        )
        self.hub = await Hub.ensure_started()
        if self.hub.draining:  # this instance is stopping: go to another one now
            await self.transport.close(CLOSE_GOING_AWAY)
            return
        await self._start_stream(self.identity.head)

    async def _start_stream(self, head: Cursor | None) -> None:
        if head is None:
            head = await database_sync_to_async(streams.head_cursor)(self.user_id)
        self.delivery = OrderedDelivery(
            self.user_id, head, self.transport, on_failure=self._delivery_failed, protocol=self.protocol
        )
        self.hub.register(self)
        metrics.SOCKETS_OPENED.labels(protocol=self.protocol).inc()
        await self.transport.send_welcome(self)
        self.delivery.start(hold_live_secs=conf.resume_grace_secs())
        self._schedule_expiry()
        logger.info("socket connected", extra=self.log_context("ws.connect"))

    async def _refuse(self, reason: str) -> None:
        metrics.SOCKETS_REFUSED.labels(protocol=self.protocol).inc()
        logger.info(
            "socket refused: %s", reason, extra={"event": "ws.refused", "reason": reason, "code": 4401, **self._ids()}
        )
        await self.transport.close(CLOSE_NOT_AUTHENTICATED)

    def welcome_frame(self) -> str:
        """Return section 1's `welcome` of the started stream (the JSON socket's first frame, SSE's first event)."""
        return frames.welcome(
            user_id=self.user_id,
            username=self.user.get_username(),
            connection_id=self.connection_id,
            cursor=self.delivery.position,
            heartbeat=conf.heartbeat_secs(),
            server_time=timezone.now().isoformat(),
        )

    def _schedule_expiry(self) -> None:
        expires_at = self.identity.expires_at
        if expires_at is not None:
            seconds = max(0.0, (expires_at - timezone.now()).total_seconds())
            self._expiry = asyncio.get_running_loop().call_later(seconds, self._expired)

    def _expired(self) -> None:
        self.tasks.spawn(self.close(CLOSE_SESSION_ENDED), "expiry")

    async def do_refresh(self, raw_token: str, ref: str | None) -> int | None:
        """Move a token socket's expiry to a later token's `exp` and return it; None if it closed with 4401 for it.

        Raises BadFrame for a socket not authenticated with a token, or a token that expires no later.
        """
        if self.identity.how != "token":
            raise _with_ref(BadFrame("only a socket authenticated with a token can refresh it"), ref)
        renewed = await database_sync_to_async(identify_token)(raw_token, with_head=False)
        if self._ended:
            return None
        if not isinstance(renewed, Identity) or renewed.user.pk != self.user_id:
            self.refused("bad_refresh")
            await self.close(CLOSE_NOT_AUTHENTICATED)
            return None
        if renewed.expires_at <= self.identity.expires_at:
            raise _with_ref(BadFrame("the token must expire later than the socket's current one"), ref)
        self.identity = dataclasses.replace(self.identity, expires_at=renewed.expires_at)
        if self._expiry is not None:
            self._expiry.cancel()
        self._schedule_expiry()
        return int(renewed.expires_at.timestamp())

    @property
    def is_open(self) -> bool:
        """Whether the stream runs (authenticated, started, not ended): client frames are served."""
        return self.delivery is not None and not self._ended

    # --- from the client (through the adapter) ------------------------------------------

    async def admit(self, size: int) -> bool:
        """Apply the limits to a client frame of `size` bytes: False if the session closes for it (1009, 4429).

        Raises RateLimited for a frame to refuse while the socket stays.
        """
        self._frames_received.inc()
        if size > conf.max_frame_bytes():
            self.refused("too_big", size=size)
            await self.close(CLOSE_TOO_BIG)
            return False
        verdict = self.limiter.check()
        if verdict is Verdict.CLOSE:
            self.refused("flooding")
            await self.close(CLOSE_FLOODING)
            return False
        self.last_activity = timezone.now()
        if verdict is Verdict.REFUSE:
            raise RateLimited()
        return True

    def refused(self, code: str, **fields) -> None:
        """Count and log a client frame refused with `code` (an error frame or a closing code)."""
        metrics.record_refused(code, self.protocol)
        logger.info("frame refused: %s", code, extra={**self.log_context("ws.frame_refused"), "code": code, **fields})

    def do_resume(self, cursor: Cursor, ref: str | None, coalesce: bool = False) -> None:
        """Send every event after `cursor`, in order and once, then `replayed` (or `reset` past the history).

        `coalesce`: send only each request's latest event, and every announcement (`store/coalescing.py`).
        """
        self.delivery.resume(cursor, ref, coalesce)

    async def do_ack(self, event_id: uuid.UUID, ref: str | None) -> None:
        """Mark the user's events up to `event_id` read; raise FrameNotFound for an event not in its stream."""
        try:
            await database_sync_to_async(actions.do_mark_read)(self.user, event_id)
        except NotFound as exc:
            error = FrameNotFound(exc.detail)
            error.ref = ref
            raise error from None

    # --- from the hub -------------------------------------------------------------------

    def offer_event(self, message: dict) -> None:
        self.delivery.offer(message)

    def offer_control(self, message: dict) -> None:
        self.tasks.spawn(self._control(message), "control")

    async def _control(self, message: dict) -> None:
        if message["type"] == READ_MESSAGE:
            await self.transport.send_read(message["up_to"], message["unread"])
        elif message["type"] == SESSION_ENDED_MESSAGE and message.get("session_key") in (None, self.session_key):
            await self.close(CLOSE_SESSION_ENDED)

    async def close(self, code: int) -> None:
        """Close the connection with `code` (the adapter says it in its protocol's terms)."""
        self.closing(code)
        await self.transport.close(code)

    def closing(self, code: int | None) -> None:
        """Note that this side closes with `code`: the first such code names the disconnect's reason.

        Every close this side starts passes here, the session's own and the
        adapters' (through `GuardedSocketConsumer.close`), so a close the
        client did not start is never reported as `client`.
        """
        if self.closed_with is None and code is not None:
            self.closed_with = code

    # --- ending -------------------------------------------------------------------------

    async def end(self, code: int | None) -> None:
        """Leave the hub and presence, stop delivery and the session's tasks (idempotent; the adapter calls it)."""
        if self._ended:
            return
        self._ended = True
        if self._expiry is not None:
            self._expiry.cancel()
        if self.delivery is None:
            return
        self.end_code = code
        self.hub.unregister(self)
        await self.delivery.stop()
        await self.tasks.cancel_all()
        logger.info("socket closed", extra={**self.log_context("ws.disconnect"), "code": code})

    async def fail(self) -> None:
        """End the session after an unexpected error (already logged) and close with 1011, so the client resumes."""
        self.closing(CLOSE_INTERNAL_ERROR)
        await self.end(CLOSE_INTERNAL_ERROR)
        try:
            await self.transport.close(CLOSE_INTERNAL_ERROR)
        except Exception:
            logger.exception("could not close a failed socket", extra=self.log_context("ws.failed"))

    def _task_failed(self, task: asyncio.Task, error: BaseException) -> None:
        self._fail_soon()

    def _delivery_failed(self, error: BaseException) -> None:
        self._fail_soon()

    def _fail_soon(self) -> None:
        if not self._ended:
            # Not one of self.tasks: ending cancels those.
            self._failing = asyncio.get_running_loop().create_task(self.fail())

    # --- logging ------------------------------------------------------------------------

    def _ids(self) -> dict:
        return {"connection_id": self.connection_id, "protocol": self.protocol}

    def log_context(self, event: str) -> dict:
        """Return the fields every log line about this socket carries (never its ticket or cookie)."""
        return {"event": event, "user_id": self.user_id, **self._ids()}


def _with_ref(error: BadFrame, ref: str | None) -> BadFrame:
    error.ref = ref
    return error
