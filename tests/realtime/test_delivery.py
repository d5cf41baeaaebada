"""Ordered, exactly-once delivery to one socket: live messages, crossed messages, gaps read from the database."""

import asyncio
import json
import time
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from prometheus_client import REGISTRY

from notifications.protocol import frames
from notifications.protocol.cursors import Cursor
from notifications.realtime import delivery as delivery_module
from notifications.realtime.delivery import OrderedDelivery
from notifications.store import streams

USER_ID = 7


def live(seq: int) -> dict:
    """A live layer message of the user's own stream, as the hub offers it."""
    payload = {"id": f"event-{seq}", "n": seq}
    return {"user_id": USER_ID, "seq": seq, "encoded": frames.encode_payload(payload), "created_at": time.time()}


def stored(seq: int) -> SimpleNamespace:
    """A stored event of the user's own stream, as the database returns it."""
    payload = {"id": f"event-{seq}", "n": seq}
    return SimpleNamespace(
        user_id=USER_ID, seq=seq, encoded_payload=frames.encode_payload(payload), created_at=datetime.now(UTC)
    )


@pytest.fixture
def database(monkeypatch):
    """The stored events the delivery may read (a list to fill), and the reads it made."""
    events: list = []
    reads: list[Cursor] = []

    def events_after(user_id, cursor, limit):
        reads.append(cursor)
        return streams.Replay([e for e in events if e.seq > cursor.own], truncated=False)

    monkeypatch.setattr(streams, "events_after", events_after)
    return SimpleNamespace(events=events, reads=reads)


class Collecting:
    """A session's transport that keeps the `n` of each event sent, and every frame of other kinds."""

    def __init__(self, sent: list):
        self.sent = sent
        self.others: list[tuple] = []

    async def send_event(self, frame_text: str, cursor: Cursor) -> None:
        self.sent.append(json.loads(frame_text)["n"])

    async def send_replayed(self, count: int, cursor: Cursor, ref) -> None:
        self.others.append(("replayed", count, cursor))

    async def send_reset(self, reason: str, ref) -> None:
        self.others.append(("reset", reason))


def caught_up() -> float:
    """The live deliveries of JSON sockets this process had to read from the database, so far."""
    return REGISTRY.get_sample_value("notify_deliveries_caught_up_total", {"protocol": "json"}) or 0


async def started(sent: list) -> OrderedDelivery:
    delivery = OrderedDelivery(USER_ID, Cursor(0, 4), Collecting(sent))
    delivery.start(hold_live_secs=0)
    await asyncio.sleep(0)
    return delivery


async def wait_for_count(sent: list, count: int, timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        while len(sent) < count:
            await asyncio.sleep(0.01)


async def test_live_messages_in_order_are_sent_without_reading_the_database(database):
    """The fast path: the next seq each time, no query, none counted as caught up."""
    sent = []
    before = caught_up()
    delivery = await started(sent)
    for seq in (5, 6, 7):
        delivery.offer(live(seq))
    await wait_for_count(sent, 3)
    assert sent == [5, 6, 7]
    assert database.reads == []
    assert caught_up() == before
    await delivery.stop()


async def test_messages_that_cross_on_the_way_are_sent_in_order_without_reading_the_database(database):
    """Seq 6 arriving before 5 is held until 5 comes, then both go, in order, and the database is not asked."""
    sent = []
    delivery = await started(sent)
    delivery.offer(live(6))
    delivery.offer(live(7))
    await asyncio.sleep(delivery_module.REORDER_WAIT_SECS / 4)
    assert sent == []
    delivery.offer(live(5))
    await wait_for_count(sent, 3)
    await asyncio.sleep(delivery_module.REORDER_WAIT_SECS * 2)
    assert sent == [5, 6, 7]
    assert database.reads == []
    await delivery.stop()


async def test_a_gap_that_stays_open_is_read_from_the_database_once_in_order(database):
    """When seq 5 never comes live, it is read from the database after the wait; nothing is sent twice."""
    database.events.extend([stored(5), stored(6)])
    sent = []
    before = caught_up()
    delivery = await started(sent)
    delivery.offer(live(6))
    await wait_for_count(sent, 2)
    assert sent == [5, 6]
    assert database.reads == [Cursor(0, 4)]
    assert caught_up() == before + 2, "both events read from the database count as caught up"
    delivery.offer(live(6))  # a late duplicate
    delivery.offer(live(7))
    await wait_for_count(sent, 3)
    assert sent == [5, 6, 7]
    await delivery.stop()


async def test_duplicates_are_dropped(database):
    """A seq already sent is never sent again."""
    sent = []
    delivery = await started(sent)
    for seq in (5, 5, 4, 6, 5):
        delivery.offer(live(seq))
    await wait_for_count(sent, 2)
    await asyncio.sleep(0.05)
    assert sent == [5, 6]
    await delivery.stop()


class Poisoned(SimpleNamespace):
    """A stored event whose payload cannot be encoded (e.g. NaN stored before the checks)."""

    @property
    def encoded_payload(self) -> str:
        return frames.encode_payload({"n": float("nan")})


class RefusingSeven(Collecting):
    """A transport that cannot send event 7 (a lone surrogate stored before the checks)."""

    async def send_event(self, frame_text: str, cursor: Cursor) -> None:
        if json.loads(frame_text)["n"] == 7:
            "\ud800".encode()
        await super().send_event(frame_text, cursor)


async def test_poison_events_are_skipped_counted_and_the_resume_still_ends_with_replayed(database, monkeypatch):
    """An event that cannot be encoded or sent is skipped: later events still arrive, then `replayed`."""
    from prometheus_client import REGISTRY

    poison = Poisoned(user_id=USER_ID, seq=6, created_at=datetime.now(UTC))
    events = [stored(5), poison, stored(7), stored(8)]
    monkeypatch.setattr(
        streams, "read_resume", lambda user_id, cursor, limit: streams.Resume(None, streams.Replay(events, False))
    )
    skipped_before = REGISTRY.get_sample_value("notify_events_skipped_total") or 0
    sent = []
    transport = RefusingSeven(sent)
    delivery = OrderedDelivery(USER_ID, Cursor(0, 4), transport)
    delivery.start(hold_live_secs=0)
    delivery.resume(Cursor(0, 4), None)
    await wait_for_count(transport.others, 1)
    assert sent == [5, 8]
    assert transport.others == [("replayed", 2, Cursor(0, 8))]
    assert REGISTRY.get_sample_value("notify_events_skipped_total") == skipped_before + 2
    delivery.offer(live(9))
    await wait_for_count(sent, 3)
    assert sent == [5, 8, 9]
    await delivery.stop()


async def test_a_failing_pump_is_logged_and_handed_to_its_owner(database, caplog):
    """An unexpected error in the pump ends it, logged once, and `on_failure` hears of it (to close the socket)."""

    class Broken(Collecting):
        async def send_event(self, frame_text: str, cursor: Cursor) -> None:
            raise RuntimeError("broken")

    failures = []
    delivery = OrderedDelivery(USER_ID, Cursor(0, 4), Broken([]), on_failure=failures.append)
    delivery.start(hold_live_secs=0)
    delivery.offer(live(5))
    await wait_for_count(failures, 1)
    assert isinstance(failures[0], RuntimeError)
    assert [r.levelname for r in caplog.records if r.exc_info] == ["ERROR"]
    await delivery.stop()


async def test_a_gap_whose_wait_a_busy_loop_ran_late_waits_again_instead_of_reading(database):
    """A saturated instance runs the reorder timer late: the missing message is likely behind that work."""
    sent = []
    delivery = await started(sent)
    delivery.offer(live(6))
    await asyncio.sleep(0)
    # The loop is busy (other sockets' sends) for longer than the reorder wait, twice over.
    asyncio.get_running_loop().call_soon(time.sleep, delivery_module.REORDER_WAIT_SECS * 2.5)
    await asyncio.sleep(delivery_module.REORDER_WAIT_SECS * 1.5)
    assert database.reads == [], "a late timer is not a lost message"
    delivery.offer(live(5))
    await wait_for_count(sent, 2)
    assert sent == [5, 6]
    assert database.reads == []
    await delivery.stop()


async def test_a_gap_still_open_after_the_longest_wait_is_read_even_from_a_busy_loop(database, monkeypatch):
    """However late the timers run, a message that never comes is read once the longest wait has passed."""
    monkeypatch.setattr(delivery_module, "REORDER_MAX_WAIT_SECS", delivery_module.REORDER_WAIT_SECS * 3)
    database.events.extend([stored(5), stored(6)])
    sent = []
    delivery = await started(sent)
    delivery.offer(live(6))
    loop = asyncio.get_running_loop()
    for _ in range(6):  # every timer runs late
        loop.call_soon(time.sleep, delivery_module.REORDER_WAIT_SECS * 1.5)
        await asyncio.sleep(delivery_module.REORDER_WAIT_SECS)
    await wait_for_count(sent, 2)
    assert sent == [5, 6]
    assert database.reads == [Cursor(0, 4)]
    await delivery.stop()


class SlowSending(Collecting):
    """A transport whose every send costs CPU (as a real socket's framing and write do) without yielding."""

    async def send_event(self, frame_text: str, cursor: Cursor) -> None:
        started = time.perf_counter()
        while time.perf_counter() - started < 0.0002:
            pass
        await super().send_event(frame_text, cursor)


async def test_a_long_backlog_is_sent_in_slices_so_the_loop_serves_everything_else(database):
    """One socket's queue of hundreds does not hold the loop: other work runs while it is being sent."""
    sent: list = []
    delivery = OrderedDelivery(USER_ID, Cursor(0, 4), SlowSending(sent))
    delivery.start(hold_live_secs=0)
    await asyncio.sleep(0)
    for seq in range(5, 505):
        delivery.offer(live(seq))
    await asyncio.sleep(0)  # the pump takes its first slice
    assert 0 < len(sent) < 500, "the pump yielded after a slice"
    await wait_for_count(sent, 500)
    assert sent == list(range(5, 505))
    await delivery.stop()


class WritingAtOnce(Collecting):
    """A transport with the JSON socket's fast path: `send_event_now` writes before it returns."""

    def __init__(self, sent: list, refuse: bool = False):
        super().__init__(sent)
        self.refuse = refuse
        self.at_once: list = []

    def send_event_now(self, frame_text: str) -> bool:
        if self.refuse:
            return False
        frame = json.loads(frame_text)  # a lone surrogate would raise here, as the socket's encoding does
        self.at_once.append(frame["n"])
        self.sent.append(frame["n"])
        return True


async def started_at_once(transport) -> OrderedDelivery:
    delivery = OrderedDelivery(USER_ID, Cursor(0, 4), transport)
    delivery.start(hold_live_secs=0)
    for _ in range(3):
        await asyncio.sleep(0)  # live, and the pump waiting
    return delivery


async def test_the_next_live_event_is_written_from_the_offer_itself_while_the_pump_is_idle(database):
    """No pump wake-up per event: the frame is out when `offer` returns, with the cursor the pump would give."""
    sent: list = []
    transport = WritingAtOnce(sent)
    delivery = await started_at_once(transport)
    delivery.offer(live(5))
    assert sent == [5] and transport.at_once == [5]
    delivery.offer(live(6))
    assert sent == [5, 6]
    assert delivery.position == Cursor(0, 6)


async def wait_until_idle(delivery: OrderedDelivery, timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        while delivery.is_pumping:
            await asyncio.sleep(0.01)


async def test_an_idle_socket_holds_no_pump_task(database, monkeypatch):
    """Started with nothing to send, and again once a resume is served, the delivery runs no task."""
    monkeypatch.setattr(
        streams, "read_resume", lambda user_id, cursor, limit: streams.Resume(None, streams.Replay([], False))
    )
    sent = []
    transport = Collecting(sent)
    delivery = OrderedDelivery(USER_ID, Cursor(0, 4), transport)
    delivery.start(hold_live_secs=0)
    await wait_until_idle(delivery)
    assert not delivery.is_pumping
    delivery.resume(Cursor(0, 4), None)
    assert delivery.is_pumping
    await wait_for_count(transport.others, 1)
    await wait_until_idle(delivery)
    assert transport.others == [("replayed", 0, Cursor(0, 4))]
    await delivery.stop()


async def test_the_pump_started_on_demand_sends_each_event_once_in_order(database):
    """Events offered in bursts, while the pump runs and after it ended, all arrive once and in order."""
    sent = []
    delivery = await started(sent)
    await wait_until_idle(delivery)
    for burst in ((5, 6), (6, 7, 8), (9,)):
        for seq in burst:
            delivery.offer(live(seq))
        await asyncio.sleep(0)  # the next burst lands while the pump runs
    await wait_for_count(sent, 5)
    await wait_until_idle(delivery)
    delivery.offer(live(10))
    delivery.offer(live(9))
    await wait_for_count(sent, 6)
    await wait_until_idle(delivery)
    assert sent == [5, 6, 7, 8, 9, 10]
    assert database.reads == []
    await delivery.stop()


async def test_a_resume_asked_for_before_a_live_event_is_served_before_it(database, monkeypatch):
    """Whatever woke the pump comes first: the next live event queues behind the resume, not past it."""
    database.events.extend([stored(3), stored(4), stored(5)])
    monkeypatch.setattr(
        streams,
        "read_resume",
        lambda user_id, cursor, limit: streams.Resume(None, streams.events_after(user_id, cursor, limit)),
    )
    sent: list = []
    transport = WritingAtOnce(sent)
    delivery = await started_at_once(transport)
    delivery.resume(Cursor(0, 2), ref=None)
    delivery.offer(live(5))  # the next after the connection's position: sendable at once, were the pump idle
    assert sent == [], "the offer did not jump the resume"
    await wait_for_count(sent, 3)
    assert sent == [3, 4, 5]
    assert transport.others == [("replayed", 3, Cursor(0, 5))]
    await delivery.stop()


async def test_a_gap_and_a_refused_fast_path_fall_back_to_the_pump(database):
    """Past a gap the event is held as before; a transport that cannot write now gets it from the pump."""
    sent: list = []
    delivery = await started_at_once(WritingAtOnce(sent, refuse=True))
    delivery.offer(live(5))
    assert sent == []


async def test_events_offered_before_the_start_are_sent_after_it(database):
    """The hub may offer events between registering the socket and its welcome: they wait for the start."""
    sent = []
    delivery = OrderedDelivery(USER_ID, Cursor(0, 4), Collecting(sent))
    delivery.offer(live(5))
    await asyncio.sleep(0.01)
    assert sent == [] and not delivery.is_pumping
    delivery.start(hold_live_secs=0)
    await wait_for_count(sent, 1)
    assert sent == [5]
    await delivery.stop()

    sent = []
    transport = WritingAtOnce(sent)
    delivery = await started_at_once(transport)
    delivery.offer(live(6))  # 5 is missing
    assert sent == []
    delivery.offer(live(5))
    await wait_for_count(sent, 2)
    assert sent == [5, 6]
    assert database.reads == []
    await delivery.stop()


async def test_a_stopped_delivery_starts_no_pump(database):
    """Work offered after `stop` (a socket ending) starts nothing and sends nothing."""
    sent = []
    delivery = await started(sent)
    await delivery.stop()
    delivery.offer(live(5))
    delivery.catch_up()
    await asyncio.sleep(0.01)
    assert sent == [] and not delivery.is_pumping
