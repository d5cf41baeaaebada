"""STOMP 1.2 and 1.1 over WebSocket (PROTOCOL section 4.1), as an adapter over a `Session`.

Bytes become frames in `protocol/stomp/decoder.py` and frames bytes in
`protocol/stomp/frames.py`; the stream, the limits and the session's end live
in `realtime/session.py`; destinations and each subscription's position in
`stomp_subscriptions.py`. STOMP has no error a connection survives: every
refusal is an ERROR, then the close, and `close` is where each close code
gets its ERROR. See docs/stomp.md.
"""

import asyncio
import logging
import uuid
from urllib.parse import urlencode

from channels.db import database_sync_to_async

from notifications import conf
from notifications.errors import FrameError, RateLimited
from notifications.models import TrackedRequest
from notifications.protocol import frames
from notifications.protocol.cursors import Cursor
from notifications.protocol.event_facts import EventFacts
from notifications.protocol.stomp import server_frames
from notifications.protocol.stomp.decoder import StompDecoder
from notifications.protocol.stomp.errors import BadHeader, MalformedFrame, StompError
from notifications.protocol.stomp.frames import StompFrame, encode
from notifications.protocol.stomp.gateway import REPLY_ID_PREFIX
from notifications.protocol.stomp.negotiation import (
    SERVER_HEART_BEAT_MS,
    SUBPROTOCOLS,
    negotiate_heart_beat,
    negotiate_version,
)
from notifications.realtime.adapters.guarded import GuardedSocketConsumer
from notifications.realtime.adapters.stomp_gateway import StompGatewayMixin
from notifications.realtime.adapters.stomp_heartbeats import HeartBeats
from notifications.realtime.adapters.stomp_subscriptions import (
    ACK_MODES,
    MAX_SUBSCRIPTIONS,
    Delivered,
    Refused,
    Subscription,
    cursor_of,
    selection_for,
)
from notifications.realtime.authentication import Identity, ticket_of
from notifications.realtime.database_reads import REPLAY_PAGE
from notifications.realtime.session import Session
from notifications.realtime.supervision import TaskSet
from notifications.store import streams

logger = logging.getLogger(__name__)

STOMP_SUBPROTOCOLS = ("v12.stomp", "v11.stomp", "v10.stomp")
CLOSE_NORMAL = 1000
CLOSE_HEART_BEAT_MISSED = 4408
# The ERROR a close code is announced with (STOMP: ERROR first, then the close).
ERROR_MESSAGES = {
    4401: "not authenticated",
    4000: "session ended",
    4429: "too many frames",
    1009: "frame too large",
    1001: "server going away",
    1011: "internal error",
    CLOSE_HEART_BEAT_MISSED: "heart-beat missed",
}
CONNECT_TIMEOUT_SECS = 10.0
# Heart-beats and ACKs are not counted by the rate limit (an ACK is served one at a time).
UNCOUNTED = frozenset({"", "ACK", "NACK"})


class StompSocketConsumer(StompGatewayMixin, GuardedSocketConsumer):
    """One socket speaking STOMP 1.2 or 1.1."""

    protocol_name = "stomp"

    # --- opening -------------------------------------------------------------------------

    async def connect(self) -> None:
        self._accepted = self._closed = self._connected = False
        self.subscriptions: dict[str, Subscription] = {}
        self.tasks = TaskSet("stomp socket", on_failure=lambda task, error: self._fail_soon())
        offered = self.scope.get("subprotocols") or []
        self.subprotocol = next((name for name in SUBPROTOCOLS if name in offered), None)
        if offered and self.subprotocol is None:
            await self.close()  # before accept: the handshake is refused
            return
        self.version = "1.2"
        self.decoder = StompDecoder(conf.max_frame_bytes())
        self.heart_beats = HeartBeats(lambda: self._send_frame(server_frames.heartbeat), self._heart_beat_missed)
        self.session = Session(self, self.scope, self.protocol_name)
        await self.session.authenticate()
        await self.accept(self.subprotocol)
        self._accepted = True
        self.tasks.spawn(self._connect_deadline(), "connect deadline")

    async def _connect_deadline(self) -> None:
        await asyncio.sleep(CONNECT_TIMEOUT_SECS)
        if not self._connected:
            await self._refuse(MalformedFrame(f"no CONNECT within {CONNECT_TIMEOUT_SECS:g} s"))

    async def disconnect(self, code) -> None:
        self._closed = True
        await self.tasks.cancel_all()
        if self.session is not None:
            await self.session.end(code)

    # --- from the client -------------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None) -> None:
        if self._closed:
            return
        data = text_data if text_data is not None else (bytes_data or b"")
        size = len(data.encode("utf-8", "surrogatepass")) if text_data is not None else len(data)
        self.heart_beats.received()
        if size > conf.max_frame_bytes():
            self.session.refused("too_big", size=size)
            await self.close(1009)
            return
        frame = None
        try:
            for frame in self.decoder.feed(data):
                if not await self._admit(frame):
                    return
                if not frame.is_heartbeat:
                    await getattr(self, "on_" + frame.command.lower(), self.on_unsupported)(frame)
                if self._closed:
                    return
        except StompError as exc:
            await self._refuse(exc, frame)

    async def _admit(self, frame: StompFrame) -> bool:
        """Apply the rate limit to a frame once connected; False if the socket closed for it."""
        if self._closed:
            return False
        if frame.command in UNCOUNTED or not self._connected:
            return True
        try:
            return await self.session.admit(0)
        except RateLimited:
            self.session.refused("flooding")
            await self.close(4429)
            return False

    async def _refuse(self, exc: StompError, frame: StompFrame | None = None) -> None:
        """Send the ERROR for a refused frame and close with its code (the one place refusals go out)."""
        if self._closed:
            return
        self.session.refused(exc.code)
        receipt = frame.get("receipt") if frame is not None else None
        await self._send_frame(server_frames.error_for(exc, receipt_id=receipt))
        await self.close(exc.close_code, announced=True)

    def _require_connected(self, frame: StompFrame) -> None:
        if not self._connected:
            raise MalformedFrame(f"{frame.command} before CONNECT: the first frame must be CONNECT or STOMP")

    async def on_connect(self, frame: StompFrame) -> None:
        if self._connected:
            raise MalformedFrame("CONNECT again on a connected socket")
        self.version = negotiate_version(frame.get("accept-version"), self.subprotocol)
        self.sends_ms, self.expects_ms = negotiate_heart_beat(frame.get("heart-beat"), server_heart_beat())
        self.decoder.version = self.version
        self._connected = True
        await self._authenticate_with_passcode(frame.get("passcode"))
        await self.session.start()
        if not self.session.is_open:
            return
        self.heart_beats.start(self.tasks, self.sends_ms, self.expects_ms)
        # Live from the head at once: STOMP has no `resume`, each SUBSCRIBE brings its own cursor.
        self.session.do_resume(self.session.delivery.position, None)

    on_stomp = on_connect

    async def _authenticate_with_passcode(self, passcode: str | None) -> None:
        """Authenticate with a ticket in `passcode`, for a handshake that carried neither session nor ticket."""
        unauthenticated = not isinstance(self.session.identity, Identity)
        if passcode and unauthenticated and not ticket_of(self.scope):
            self.session.scope = {**self.scope, "query_string": urlencode({"ticket": passcode}).encode()}
            await self.session.authenticate()

    async def on_subscribe(self, frame: StompFrame) -> None:
        self._require_connected(frame)
        subscription = await self._subscription_of(frame)
        self.subscriptions[subscription.id] = subscription
        cursor = frame.get("cursor")
        if cursor is not None:
            await self._replay(subscription, cursor_of(cursor))
        await self._send_receipt(frame)

    async def _subscription_of(self, frame: StompFrame) -> Subscription:
        sub_id, destination, ack = frame.get("id"), frame.get("destination"), frame.get("ack", "auto")
        if not sub_id:
            raise BadHeader("SUBSCRIBE needs an id header")
        if sub_id in self.subscriptions:
            raise BadHeader(f"subscription id {sub_id[:40]!r} is already in use on this connection")
        if len(self.subscriptions) >= MAX_SUBSCRIPTIONS:
            raise Refused(f"at most {MAX_SUBSCRIPTIONS} subscriptions per connection")
        if ack not in ACK_MODES:
            raise BadHeader(f"ack must be one of {', '.join(ACK_MODES)}, not {ack[:40]!r}")
        if not destination:
            raise BadHeader("SUBSCRIBE needs a destination header")
        selection = selection_for(destination)
        if selection.request_id is not None and not await self._owns_request(selection.request_id):
            raise Refused(f"no such destination: {destination[:80]!r}")
        prefix = server_frames.message_prefix(destination, sub_id, self.version)
        return Subscription(sub_id, destination, selection, ack, prefix, self.session.delivery.position)

    @database_sync_to_async
    def _owns_request(self, request_id: str) -> bool:
        return TrackedRequest.objects.filter(id=request_id, owner_id=self.session.user_id).exists()

    async def _replay(self, subscription: Subscription, cursor: Cursor) -> None:
        """Send the subscription's events after `cursor` from the database, then the live ones held meanwhile."""
        subscription.replaying = True
        subscription.position = cursor
        resume = await database_sync_to_async(streams.read_resume)(self.session.user_id, cursor, REPLAY_PAGE)
        if resume.reset_reason is not None:
            subscription.position = self.session.delivery.position
            await self._send_reset(subscription, resume.reset_reason)
        else:
            await self._replay_pages(subscription, resume.replay)
        while subscription.held:
            await self._offer(subscription, subscription.held.popleft())
        subscription.replaying = False

    async def _replay_pages(self, subscription: Subscription, replay: streams.Replay) -> None:
        while True:
            for stored in replay.events:
                after = subscription.position
                after = after.after_announcement(stored.seq) if stored.user_id is None else after.after_own(stored.seq)
                await self._offer_stored(subscription, stored, after)
            if not (replay.truncated or subscription.overflowed) or self._closed:
                return
            subscription.overflowed = False
            replay = await database_sync_to_async(streams.events_after)(
                self.session.user_id, subscription.position, REPLAY_PAGE
            )

    async def _offer_stored(self, subscription: Subscription, stored, after: Cursor) -> None:
        try:
            delivered = Delivered(stored.facts, frames.event(stored.encoded_payload, after), after)
        except (ValueError, TypeError):  # a poison payload stored before checks: skipped, as on the JSON socket
            subscription.position = after
            return
        await self._offer(subscription, delivered)

    async def on_unsubscribe(self, frame: StompFrame) -> None:
        self._require_connected(frame)
        sub_id = frame.get("id")
        if not sub_id or self.subscriptions.pop(sub_id, None) is None:
            raise BadHeader(f"UNSUBSCRIBE of no subscription of this connection: {str(sub_id)[:40]!r}")
        await self._send_receipt(frame)

    async def on_ack(self, frame: StompFrame) -> None:
        self._require_connected(frame)
        ack_id = frame.get("id") if self.version == "1.2" else frame.get("message-id")
        if ack_id is None or not ack_id.startswith(("reset-", REPLY_ID_PREFIX)):
            try:
                event_id = uuid.UUID(str(ack_id))
            except ValueError:
                raise BadHeader(f"ACK of no message of this server: {str(ack_id)[:40]!r}") from None
            try:
                await self.session.do_ack(event_id, None)
            except FrameError as exc:
                raise Refused(exc.detail) from None
        await self._send_receipt(frame)

    async def on_nack(self, frame: StompFrame) -> None:
        self._require_connected(frame)
        await self._send_receipt(frame)  # redelivery is by cursor: nothing changes

    async def on_disconnect(self, frame: StompFrame) -> None:
        await self._send_receipt(frame)
        await self.close(CLOSE_NORMAL)

    async def on_unsupported(self, frame: StompFrame) -> None:
        raise Refused(f"{frame.command} is not supported: this server has no transactions")

    async def _send_receipt(self, frame: StompFrame) -> None:
        receipt = frame.get("receipt")
        if receipt is not None:
            await self._send_frame(server_frames.receipt(receipt))

    # --- heart-beats ---------------------------------------------------------------------

    async def _heart_beat_missed(self) -> None:
        self.session.refused("heart_beat_missed")
        await self.close(CLOSE_HEART_BEAT_MISSED)

    def _fail_soon(self) -> None:
        if self.session is not None and not self._closed:
            self.tasks.spawn(self.session.fail(), "fail")

    # --- the session's Transport -------------------------------------------------------------

    async def send_welcome(self, session: Session) -> None:
        connected = server_frames.connected(
            self.version,
            server_heart_beat(),
            session=session.connection_id,
            user_name=session.user.get_username(),
            cursor=session.delivery.position.encode(),
        )
        await self._send_frame(connected)

    async def send_routed_event(self, frame_text: str, cursor: Cursor, facts: EventFacts) -> None:
        if not self.subscriptions or self._closed:
            return
        delivered = Delivered(facts, frame_text, cursor)
        for subscription in list(self.subscriptions.values()):
            if subscription.replaying:
                subscription.hold(delivered)
            else:
                await self._offer(subscription, delivered)

    async def _offer(self, subscription: Subscription, delivered: Delivered) -> None:
        if not subscription.take(delivered) or self.subscriptions.get(subscription.id) is not subscription:
            return
        event_id = delivered.facts.id
        ack = event_id if subscription.asks_for_acks else None
        await self._send_text(
            server_frames.event_message(subscription.prefix, event_id, delivered.cursor.encode(), delivered.text, ack),
            fast=True,
        )

    async def _send_reset(self, subscription: Subscription, reason: str) -> None:
        reset_id = f"reset-{uuid.uuid4().hex}"
        message = server_frames.message(
            subscription.destination,
            subscription.id,
            reset_id,
            subscription.position.encode(),
            b"{}",
            ack=reset_id if subscription.asks_for_acks else None,
            extra_headers=(("notify-reset", reason),),
        )
        await self._send_frame(message)

    async def send_replayed(self, count: int, cursor: Cursor, ref: str | None) -> None:
        """Nothing to say: the connection's own resume only takes it live."""

    async def send_reset(self, reason: str, ref: str | None) -> None:
        """Nothing to say: each subscription's replay says its own reset."""

    async def send_read(self, up_to: str, unread: int) -> None:
        """STOMP has no frame for it: read marks are seen over REST."""

    async def _send_frame(self, frame: StompFrame) -> None:
        await self._send_text(encode(frame, self.version).decode("utf-8"))

    async def _send_text(self, text: str, fast: bool = False) -> None:
        if self._closed:
            return
        self.heart_beats.sent()
        if fast:
            await self.send_fast(text_data=text)
        else:
            await self.send(text_data=text)

    async def close(self, code=None, reason=None, *, announced: bool = False) -> None:
        """Close with `code`, first sending the ERROR that code stands for (once; none before accept)."""
        if self._closed:
            return
        if self._accepted and not announced and code in ERROR_MESSAGES:
            await self._send_frame(server_frames.error(ERROR_MESSAGES[code]))
        self._closed = True
        await super().close(code=code, reason=reason)


def server_heart_beat() -> tuple[int, int]:
    """Return the server's heart-beat wish (sends, wants) in ms: NOTIFY_STOMP_HEART_BEAT_MS both ways, when set."""
    period = conf.stomp_heart_beat_ms()
    return SERVER_HEART_BEAT_MS if period is None else (period, period)


def offers_stomp(scope: dict) -> bool:
    """Return whether a handshake on `/ws/notifications/` is for STOMP: a STOMP subprotocol offered, JSON's not.

    Any STOMP version counts: an offer of `v10.stomp` alone is then refused by the STOMP adapter.
    """
    offered = scope.get("subprotocols") or []
    return "notify.v1.json" not in offered and any(name in STOMP_SUBPROTOCOLS for name in offered)
