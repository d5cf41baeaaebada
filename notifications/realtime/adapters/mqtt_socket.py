"""MQTT 3.1.1 over WebSocket at `/mqtt` (PROTOCOL section 4.3), as an adapter over a `Session`.

Packets are decoded in `protocol/mqtt/decoder.py` and built in
`protocol/mqtt/encoder.py`; topic filters live in `protocol/mqtt/topics.py`.
The session starts at CONNECT (its password may carry a ticket); its
`welcome` is the CONNACK. Every event passes through the client's
subscriptions: it is published once at the highest granted QoS, or passed.
A persistent session (clean session 0) stores where the client is every
FLUSH_SECS and when the connection ends. An `MqttError`, from the decoder or
a packet at the wrong time, closes the connection here, only.
"""

import asyncio
import logging
import uuid
from urllib.parse import urlencode

from channels.db import database_sync_to_async

from notifications import conf
from notifications.errors import RateLimited
from notifications.protocol.cursors import Cursor
from notifications.protocol.event_facts import EventFacts
from notifications.protocol.mqtt import encoder, packets, topics
from notifications.protocol.mqtt.decoder import Decoder
from notifications.protocol.mqtt.errors import ConnectRefused, MqttError, PacketTooBig, UnexpectedPacket
from notifications.realtime.adapters import mqtt_takeover
from notifications.realtime.adapters.guarded import GuardedSocketConsumer
from notifications.realtime.adapters.mqtt_acks import AckTracker, InFlightFull
from notifications.realtime.authentication import Identity, authenticate
from notifications.realtime.session import (
    CLOSE_GOING_AWAY,
    CLOSE_INTERNAL_ERROR,
    CLOSE_NOT_AUTHENTICATED,
    CLOSE_TOO_BIG,
    Session,
)
from notifications.store import mqtt_sessions

logger = logging.getLogger(__name__)

SUBPROTOCOL = "mqtt"
CONNECT_TIMEOUT_SECS = 10.0
FLUSH_SECS = 0.5
KEEP_ALIVE_GRACE = 1.5  # a client silent for 1.5 keep-alive periods is disconnected (MQTT-3.1.2-24)
CLOSE_NORMAL = 1000
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_POLICY = 1008
CLOSE_SILENT = 4408
# The CONNACK return code a close before CONNACK is announced with.
_REFUSAL_RETURN_CODES = {CLOSE_NOT_AUTHENTICATED: packets.NOT_AUTHORIZED, CLOSE_GOING_AWAY: packets.SERVER_UNAVAILABLE}


class MqttSocketConsumer(GuardedSocketConsumer):
    """One socket speaking MQTT 3.1.1 in binary WebSocket messages."""

    # No per-socket layer channel: the hub reads the layer for the whole process.
    protocol_name = "mqtt"

    # --- opening and ending ----------------------------------------------------------------

    async def connect(self) -> None:
        self._closed = self._connack_sent = False
        self._connect: packets.Connect | None = None
        self._connect_timer: asyncio.TimerHandle | None = None
        self._persistent = False
        self._flush_lock = asyncio.Lock()
        offered = self.scope.get("subprotocols") or []
        if offered and SUBPROTOCOL not in offered:
            await self.close()  # before accept: the handshake is refused
            return
        self.decoder = Decoder(conf.max_frame_bytes())
        self.subscriptions = topics.Subscriptions()
        self.session = Session(self, self.scope, self.protocol_name)
        await self.session.authenticate()
        await self.accept(SUBPROTOCOL if offered else None)
        loop = asyncio.get_running_loop()
        self._last_packet = loop.time()
        self._connect_timer = loop.call_later(CONNECT_TIMEOUT_SECS, self._connect_timed_out)

    def _connect_timed_out(self) -> None:
        self.session.refused("no_connect")
        self._timing_out = asyncio.get_running_loop().create_task(self.close(CLOSE_SILENT))

    async def disconnect(self, code) -> None:
        if self.session is None:
            return
        self._closed = True
        if self._connect_timer is not None:
            self._connect_timer.cancel()
        await self.session.end(code)
        await self._flush(final=True)

    # --- from the client -------------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None) -> None:
        if self._closed or self.session is None:
            return
        if text_data is not None:
            self.session.refused("text_message")
            await self.close(CLOSE_UNSUPPORTED_DATA)  # MQTT over WebSocket is binary only
            return
        if not await self._admit(len(bytes_data)):
            return
        self._last_packet = asyncio.get_running_loop().time()
        try:
            for packet in self.decoder.feed(bytes_data):
                if self._connect is None and packet.kind != "connect":
                    raise UnexpectedPacket(f"{packet.kind} before CONNECT")
                await getattr(self, "on_" + packet.kind)(packet)
                if self._closed:
                    return
        except MqttError as exc:
            await self._refuse(exc)

    async def _admit(self, size: int) -> bool:
        """Apply the frame limits to a message; a rate-limited one is still read (MQTT cannot refuse one packet)."""
        if not self.session.is_open:
            if size <= conf.max_frame_bytes():
                return True
            self.session.refused("too_big", size=size)
            await self.close(CLOSE_TOO_BIG)
            return False
        try:
            return await self.session.admit(size)
        except RateLimited:
            self.session.refused("rate_limited")
            return True

    async def _refuse(self, error: MqttError) -> None:
        self.session.refused(error.code, detail=str(error))
        if isinstance(error, ConnectRefused) and not self._connack_sent:
            self._connack_sent = True
            await self.send(bytes_data=encoder.connack(False, error.return_code))
        await self.close(CLOSE_TOO_BIG if isinstance(error, PacketTooBig) else CLOSE_PROTOCOL_ERROR)

    async def on_connect(self, packet: packets.Connect) -> None:
        if self._connect is not None:
            raise UnexpectedPacket("second CONNECT")
        self._connect_timer.cancel()
        if not packet.client_id and not packet.clean_session:
            raise ConnectRefused(packets.IDENTIFIER_REJECTED, "empty client id with clean session 0")
        self._connect = packet
        self.client_id = packet.client_id or "auto-" + uuid.uuid4().hex
        self._takes_over = bool(packet.client_id)
        if not isinstance(self.session.identity, Identity) and packet.password is not None:
            self.session.identity = await authenticate(self._scope_with_ticket(packet.password))
        await self.session.start()
        if not self.session.is_open:
            return
        await self._flush()  # before any event is sent: a dead instance's sends come again with DUP
        self.session.do_resume(self._resume_from, None)
        if packet.keep_alive_secs:
            self.session.tasks.spawn(self._watch_silence(packet.keep_alive_secs * KEEP_ALIVE_GRACE), "keep-alive")
        if self._persistent:
            self.session.tasks.spawn(self._flush_periodically(), "mqtt-session-flush")

    def _scope_with_ticket(self, password: bytes) -> dict:
        ticket = password.decode("utf-8", "replace")
        return {**self.scope, "query_string": urlencode({"ticket": ticket}).encode("ascii")}

    async def on_subscribe(self, packet: packets.Subscribe) -> None:
        return_codes = [await self._subscribe(topic_filter, qos) for topic_filter, qos in packet.filters]
        if self._persistent:
            await database_sync_to_async(mqtt_sessions.save_subscriptions)(
                self.session.user_id, self.client_id, self.subscriptions.granted()
            )
        await self.send(bytes_data=encoder.suback(packet.packet_id, return_codes))

    async def _subscribe(self, topic_filter: str, qos: int) -> int:
        """Add one subscription; return its SUBACK return code (the granted QoS, or 0x80)."""
        selection = topics.selection_of(topic_filter)
        if selection is not None and selection.request_id is not None:
            owned = await database_sync_to_async(mqtt_sessions.owns_request)(self.session.user_id, selection.request_id)
            selection = selection if owned else None
        if selection is None:
            self.session.refused("subscription_refused")
            return packets.SUBSCRIPTION_FAILURE
        granted = min(qos, 1)
        self.subscriptions.add(topic_filter, selection, granted)
        return granted

    async def on_unsubscribe(self, packet: packets.Unsubscribe) -> None:
        for topic_filter in packet.filters:
            self.subscriptions.remove(topic_filter)
        if self._persistent:
            await database_sync_to_async(mqtt_sessions.save_subscriptions)(
                self.session.user_id, self.client_id, self.subscriptions.granted()
            )
        await self.send(bytes_data=encoder.unsuback(packet.packet_id))

    async def on_puback(self, packet: packets.Puback) -> None:
        self.acks.acknowledged(packet.packet_id)

    async def on_pingreq(self, packet: packets.Pingreq) -> None:
        await self.send(bytes_data=encoder.pingresp())

    async def on_publish(self, packet: packets.Publish) -> None:
        self.session.refused("publish")
        await self.close(CLOSE_POLICY)

    async def on_disconnect(self, packet: packets.Disconnect) -> None:
        await self._flush(final=True)
        await self.close(CLOSE_NORMAL)

    # --- timers ----------------------------------------------------------------------------

    async def _watch_silence(self, limit_secs: float) -> None:
        loop = asyncio.get_running_loop()
        while (silent := loop.time() - self._last_packet) < limit_secs:
            await asyncio.sleep(limit_secs - silent)
        self.session.refused("keep_alive_timeout")
        await self.close(CLOSE_SILENT)

    async def _flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECS)
            await self._flush()

    async def _flush(self, final: bool = False) -> None:
        """Store the persistent session's positions if they moved (one UPDATE per flush, not per PUBACK)."""
        async with self._flush_lock:
            if not self._persistent or not (self.acks.dirty or final):
                return
            acked, sent = self.acks.take(final)
            await database_sync_to_async(mqtt_sessions.save_positions)(
                self.session.user_id, self.client_id, acked, sent
            )

    # --- the session's Transport -------------------------------------------------------------

    async def send_welcome(self, session: Session) -> None:
        """Open (or discard) the stored session and send CONNACK; the replay starts from `_resume_from`."""
        head = session.delivery.position
        if self._takes_over:
            persistent = not self._connect.clean_session
            await mqtt_takeover.take_over(session, self.client_id, persistent)
        stored = await database_sync_to_async(mqtt_sessions.open_session)(
            session.user_id, self.client_id, self._connect.clean_session, head
        )
        self._persistent = stored is not None
        if stored is None:
            self.acks = AckTracker(head, head, head)
        else:
            self.subscriptions = topics.Subscriptions(stored.subscriptions)
            self.acks = AckTracker(stored.acked, stored.sent, head)
            self.acks.dirty = True  # the first flush stores SENT_UNKNOWN
        self._resume_from = self.acks.acked
        self._connack_sent = True
        await self.send(bytes_data=encoder.connack(bool(stored and stored.present), packets.ACCEPTED))

    async def send_routed_event(self, frame_text: str, cursor: Cursor, facts: EventFacts) -> None:
        if self._closed:
            return  # not passed: a persistent session's next connection sends it
        payload = frame_text.encode("utf-8")  # a lone surrogate raises here: the delivery skips the event
        qos = self.subscriptions.qos_for(facts.kind, facts.request_id)
        if qos is None:
            self.acks.passed(cursor)
            return
        topic = topics.topic_of(facts.kind, facts.request_id)
        if qos == 0:
            await self.send_fast(bytes_data=encoder.publish(topic, payload, 0))
            self.acks.passed(cursor)
            return
        try:
            packet_id, dup = self.acks.sent_at_qos1(cursor)
        except InFlightFull:
            self.session.refused("not_acknowledging")
            await self.close(CLOSE_POLICY)
            return
        await self.send_fast(bytes_data=encoder.publish(topic, payload, 1, packet_id, dup))

    async def send_replayed(self, count: int, cursor: Cursor, ref: str | None) -> None:
        """Nothing to say: MQTT has no end-of-replay packet; live messages simply follow."""

    async def send_reset(self, reason: str, ref: str | None) -> None:
        """The stored position is past the history: go on from the stream's head (docs/mqtt.md)."""
        logger.info("stored MQTT session past the history: %s", reason, extra=self.session.log_context("mqtt.reset"))
        self.acks.restart(self.session.delivery.position)

    async def send_read(self, up_to: str, unread: int) -> None:
        """Nothing to send: read marks have no MQTT topic."""

    async def close(self, code=None, reason=None) -> None:
        if getattr(self, "_closed", False) and code != CLOSE_INTERNAL_ERROR:
            return
        self._closed = True
        return_code = _REFUSAL_RETURN_CODES.get(code)
        if return_code is not None and not self._connack_sent and self._connect is not None:
            self._connack_sent = True
            await self.send(bytes_data=encoder.connack(False, return_code))
        await super().close(code=code, reason=reason)
