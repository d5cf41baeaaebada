"""Ordered, exactly-once delivery of one user's stream to one socket.

Live messages from the layer are only a fast path. Each carries its gapless
sequence number, so a connection knows at once whether it is a duplicate
(drop), the next one (send), or past a gap. A message past a gap is held
briefly, since the publishes of two instances for one user can cross on the
way; if the gap is still open then, it is read from the database.
Anything the layer lost is found the same way by `catch_up()`, which the hub
asks for after a layer outage and on its periodic check of stream heads.

A stored event that cannot be encoded or sent (a poison payload) is skipped
with a log line and counted, never retried: the stream moves past it.
"""

import asyncio
import logging
from collections import deque
from collections.abc import Callable

from notifications.ops import metrics
from notifications.protocol import frames
from notifications.protocol.cursors import Cursor
from notifications.protocol.event_facts import EventFacts, facts_of
from notifications.realtime import ledger as delivery_ledger
from notifications.realtime.database_reads import CAUGHT_UP, LIVE, REPLAYED, DatabaseReads
from notifications.realtime.supervision import TaskSet
from notifications.store import ledger

logger = logging.getLogger(__name__)

MAX_QUEUED_MESSAGES = 1000
# How long a live message past a gap waits for the missing ones before the database is asked.
REORDER_WAIT_SECS = 0.1
# The longest a gap waits so (a busy loop makes it wait again) before the database is asked anyway.
REORDER_MAX_WAIT_SECS = 2.0
# How long one socket's pump sends its backlog before it lets the loop run everything else: other
# sockets, the layer's read loop (and so the layer probe), HTTP requests. Without it a backlogged
# instance ran each pump's whole queue in one step, and one turn of the loop took seconds.
SEND_SLICE_SECS = 0.001


class OrderedDelivery(DatabaseReads):
    """Send a user's events to one socket in cursor order, each once.

    The pump runs only while there is work (a resume, a catch-up, queued
    live events): an idle socket holds no task, no event to wait on and no
    queue, which is most of what thousands of idle sockets would cost.
    """

    __slots__ = (
        "user_id",
        "_lag",
        "_ledger",
        "_protocol_bit",
        "position",
        "sent_since",
        "_transport",
        "_send_routed",
        "_send_now",
        "_on_failure",
        "_tasks",
        "_queue",
        "_catch_up_wanted",
        "_resumes",
        "_live",
        "_running",
        "_woken",
        "_task",
        "_go_live_timer",
        "_pending_frames",
        "_held",
        "_reorder_timer",
    )

    def __init__(
        self,
        user_id: int,
        position: Cursor,
        transport,
        on_failure: Callable[[BaseException], None] | None = None,
        protocol: str = "json",
    ):
        self.user_id = user_id
        self._lag = metrics.lag_observer(protocol)
        self._ledger = delivery_ledger.recorder()
        self._protocol_bit = ledger.PROTOCOL_BITS.get(protocol, 0)
        # Everything up to `position` has been sent (or was before the client's cursor).
        self.position = position
        # Everything in (sent_since, position] was sent on this connection.
        self.sent_since = position
        self._transport = transport  # a session's Transport: send_event, send_replayed, send_reset
        # A transport that routes by kind or id takes the event's facts, read once per event for every socket.
        self._send_routed = getattr(transport, "send_routed_event", None)
        # A transport that can write a frame before returning (the JSON socket's fast path) lets `offer`
        # send the next live event at once while no pump runs and nothing waits.
        self._send_now = getattr(transport, "send_event_now", None) if self._send_routed is None else None
        self._on_failure = on_failure
        self._tasks = TaskSet(f"delivery {user_id}", on_failure=self._pump_failed)
        self._queue: deque[dict] | None = None  # live messages not yet taken by the pump (None: none)
        self._catch_up_wanted = False
        self._resumes: deque[tuple[Cursor, str | None, bool]] | None = None
        self._live = False
        self._running = False  # between `start` and `stop`: work starts the pump
        self._woken = False  # work arrived since the pump last looked
        self._task: asyncio.Task | None = None  # the pump, while it runs (or the one that failed)
        self._go_live_timer: asyncio.TimerHandle | None = None
        # frame, its cursor, created_at (Unix time), how it came (LIVE, CAUGHT_UP, REPLAYED), the
        # event's facts, its stream (0: announcements) and seq
        self._pending_frames: list[tuple[str, Cursor, float, str, EventFacts | None, int, int]] = []
        # Live messages past a gap, by (is_announcement, seq), until the gap fills or is read.
        self._held: dict[tuple[bool, int], dict] = {}
        self._reorder_timer: asyncio.TimerHandle | None = None

    def start(self, hold_live_secs: float) -> None:
        """Let work start the pump (a failure is logged, handed to `on_failure`); live events wait for a `resume`."""
        self._running = True
        self._go_live_timer = asyncio.get_running_loop().call_later(hold_live_secs, self._go_live)
        if self._woken:
            self._wake()

    async def stop(self) -> None:
        self._forget_held()
        if self._running:
            self._running = False
            if self._go_live_timer is not None:
                self._go_live_timer.cancel()
            await self._tasks.cancel_all()
            self._forget_held()  # a pump that ran on while being cancelled may have armed a reorder timer

    @property
    def is_pumping(self) -> bool:
        """Whether the pump task exists now (it ends whenever it has nothing left to do)."""
        return self._task is not None

    def offer(self, message: dict) -> None:
        """Queue a live event message, or send it at once if it is the next and nothing else waits (never blocks)."""
        if self._send_now is not None and self._is_idle() and self._sent_at_once(message):
            return
        if self._queue is None:
            self._queue = deque()
        if len(self._queue) >= MAX_QUEUED_MESSAGES:
            # A slow socket: forget the backlog, the database has it all.
            self._queue.clear()
            self._catch_up_wanted = True
        else:
            self._queue.append(message)
        self._wake()

    def catch_up(self) -> None:
        """Ask the pump to send whatever the database has past this connection's position."""
        self._catch_up_wanted = True
        self._wake()

    @property
    def is_busy(self) -> bool:
        """Whether live events wait in this socket's queue: it is behind because it is sending, not stalled."""
        return bool(self._queue)

    def resume(self, cursor: Cursor, ref: str | None, coalesce: bool = False) -> None:
        """Queue a resume; `coalesce` sends each request's latest event only (`store/coalescing.py`)."""
        if self._resumes is None:
            self._resumes = deque()
        self._resumes.append((cursor, ref, coalesce))
        self._wake()

    def _go_live(self) -> None:
        self._live = True
        if self._go_live_timer is not None:
            self._go_live_timer.cancel()
            self._go_live_timer = None
        self._wake()

    def _wake(self) -> None:
        """Note new work; start the pump if it is not running (a failed pump is never replaced)."""
        self._woken = True
        if self._task is None and self._running:
            self._task = self._tasks.spawn(self._pump(), "pump")

    def _is_idle(self) -> bool:
        """Whether no pump runs and nothing waits: no work noted, no gap held, no catch-up asked for."""
        return self._task is None and self._running and not (self._woken or self._held or self._catch_up_wanted)

    def _sent_at_once(self, message: dict) -> bool:
        """Send the next live event from the hub's own call, without waking the pump; False: queue it instead.

        Only while no pump runs and nothing waits for one, so nothing sent or
        to be sent can come between: the same frame, cursor and accounting as
        the pump's path.
        """
        is_announcement = message["user_id"] is None
        if not self._live or message["seq"] != self._seen(is_announcement) + 1 or message["encoded"] is None:
            return False
        position = (
            self.position.after_announcement(message["seq"])
            if is_announcement
            else self.position.after_own(message["seq"])
        )
        try:
            if not self._send_now(frames.event(message["encoded"], position)):
                return False
        except (ValueError, TypeError):  # a payload that cannot be sent: the pump's path skips and logs it
            return False
        except Exception:  # called from the hub's loop over every socket: one socket's failure stays its own
            logger.exception("sending a live event at once failed", extra={"event": "ws.send_failed"})
            return False  # the pump meets it again and fails this socket alone
        self.position = position
        self._ledger.delivered(message["user_id"] or 0, message["seq"], self._protocol_bit)
        self._lag.live(message["created_at"])
        return True

    def _pump_failed(self, task: asyncio.Task, error: BaseException) -> None:
        if self._on_failure is not None:
            self._on_failure(error)

    async def _pump(self) -> None:
        while self._woken:
            self._woken = False
            await self._pump_once()
        # Nothing awaited since the last look: work offered from now on starts a new pump.
        self._task = None
        if not self._queue:
            self._queue = None
        if not self._resumes:
            self._resumes = None

    async def _pump_once(self) -> None:
        while self._resumes:
            await self._serve_resume(*self._resumes.popleft())
            self._go_live()
        if not self._live:
            return
        if self._catch_up_wanted:
            self._catch_up_wanted = False
            self._forget_held()  # committed before they were sent: the database has them
            await self._send_from_database(self.position)
        await self._send_queued()
        if self._catch_up_wanted:
            self._woken = True

    async def _send_queued(self) -> None:
        """Send the live messages queued, yielding to the loop every SEND_SLICE_SECS of sending."""
        loop = asyncio.get_running_loop()
        slice_ends = loop.time() + SEND_SLICE_SECS
        while self._queue and not self._catch_up_wanted:
            self._deliver_live(self._queue.popleft())
            await self._flush()
            if self._queue and loop.time() > slice_ends:
                await asyncio.sleep(0)
                slice_ends = loop.time() + SEND_SLICE_SECS

    def _deliver_live(self, message: dict) -> None:
        is_announcement = message["user_id"] is None
        seq = message["seq"]
        if seq <= self._seen(is_announcement):
            return
        if seq > self._seen(is_announcement) + 1:
            self._hold(is_announcement, seq, message)
            return
        self._send_live(is_announcement, message)
        while (following := self._held.pop((is_announcement, self._seen(is_announcement) + 1), None)) is not None:
            self._send_live(is_announcement, following)
        if self._reorder_timer is not None and not self._held:
            self._forget_held()  # the gap filled in time

    def _seen(self, is_announcement: bool) -> int:
        return self.position.announcements if is_announcement else self.position.own

    def _send_live(self, is_announcement: bool, message: dict) -> None:
        frame = self._advance(is_announcement, message["seq"], message["encoded"])
        if frame is not None:
            facts = self._live_facts(message) if self._send_routed is not None else None
            self._pending_frames.append(
                (frame, self.position, message["created_at"], LIVE, facts, message["user_id"] or 0, message["seq"])
            )

    @staticmethod
    def _live_facts(message: dict) -> EventFacts | None:
        """Return a live event's facts (None if unreadable), decoded once and kept in the hub's shared message."""
        facts = message.get("facts")
        if facts is None:
            try:
                facts = message["facts"] = facts_of(message["encoded"])
            except (ValueError, TypeError, KeyError):
                return None  # sending it fails, and the delivery skips it as poison
        return facts

    def _hold(self, is_announcement: bool, seq: int, message: dict) -> None:
        if len(self._held) >= MAX_QUEUED_MESSAGES:
            self._catch_up_wanted = True
            return
        self._held[(is_announcement, seq)] = message
        if self._reorder_timer is None:
            self._wait_for_gap(asyncio.get_running_loop().time())

    def _wait_for_gap(self, since: float) -> None:
        self._reorder_timer = asyncio.get_running_loop().call_later(REORDER_WAIT_SECS, self._gap_stayed_open, since)

    def _gap_stayed_open(self, since: float) -> None:
        now = asyncio.get_running_loop().time()
        late = now - self._reorder_timer.when()
        self._reorder_timer = None
        if not self._held:
            return
        if (self._queue or late > REORDER_WAIT_SECS) and now - since < REORDER_MAX_WAIT_SECS:
            # The pump has not read what arrived meanwhile, or the loop ran this timer late (a saturated
            # instance): what fills the gap may still be on its way behind that work. Wait, not the database.
            self._wait_for_gap(since)
        else:
            self.catch_up()

    def _forget_held(self) -> None:
        self._held.clear()
        if self._reorder_timer is not None:
            self._reorder_timer.cancel()
            self._reorder_timer = None

    def _advance(self, is_announcement: bool, seq: int, encoded: str | None) -> str | None:
        """Move past the event; return its frame (None for a payload that could not be encoded)."""
        if is_announcement:
            self.position = self.position.after_announcement(seq)
        else:
            self.position = self.position.after_own(seq)
        return None if encoded is None else frames.event(encoded, self.position)

    async def _flush(self) -> int:
        """Send the pending frames; return how many went (a poison one is skipped)."""
        pending, self._pending_frames = self._pending_frames, []
        skipped = caught_up = 0
        for text, cursor, created_at, path, facts, stream, seq in pending:
            try:
                await self._send(text, cursor, facts)
            except (ValueError, TypeError) as exc:  # UnicodeEncodeError: a lone surrogate stored before checks
                self._skip_poison(cursor, exc)
                skipped += 1
                continue
            self._ledger.delivered(stream, seq, self._protocol_bit)
            if path is REPLAYED:
                self._lag.replay(created_at)
            else:
                self._lag.live(created_at)
                caught_up += path is CAUGHT_UP
        if caught_up:
            self._lag.caught_up(caught_up)
        return len(pending) - skipped

    async def _send(self, text: str, cursor: Cursor, facts: EventFacts | None) -> None:
        if self._send_routed is None:
            await self._transport.send_event(text, cursor)
        elif facts is None:
            raise ValueError("the event's id and kind could not be read")
        else:
            await self._send_routed(text, cursor, facts)

    def _skip_poison(self, cursor: Cursor, error: Exception) -> None:
        metrics.EVENTS_SKIPPED.inc()
        logger.error(
            "event skipped: its payload cannot be sent (%s)",
            type(error).__name__,
            extra={"event": "ws.event_skipped", "user_id": self.user_id, "cursor": cursor.encode()},
        )
