"""The three ways channels-rabbitmq 4.0.1 wedges (shared/notes/channels-rabbitmq.md), met by our hub.

Each test runs the hub on the test's loop with channels-rabbitmq reaching
the real broker through a TcpProxy, a tiny `local_capacity` and no
`local_expiry` (the library's default), holds off the hub's layer
replacement until it has shown the raw layer wedged, then lets the hub
recover and checks that the socket gets every event of its stream, the ones
published during and after the fault included, exactly once.
"""

import asyncio
import contextlib
import secrets
import time
import urllib.parse
from collections.abc import Callable

import carehare
import channels_rabbitmq.core
import pytest
from channels.db import database_sync_to_async

from notifications.protocol import layer_messages
from notifications.realtime.hub import Hub
from notifications.store import actions
from tests.sockets import make_user, receive_until, signed_in_socket

pytestmark = pytest.mark.django_db(transaction=True)

LOCAL_CAPACITY = 10
WEDGE_SECS = 20.0
RECOVERY_SECS = 30.0


@pytest.fixture
async def rabbit_hub(settings, amqp_url, make_proxy):
    """Start the hub on this loop, on channels-rabbitmq through a proxy; yield (hub, proxy)."""
    broker = urllib.parse.urlsplit(amqp_url)
    proxy = make_proxy(broker.hostname, broker.port or 5672)
    settings.NOTIFY_NAMESPACE = "faults" + secrets.token_hex(4)
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_rabbitmq.core.RabbitmqChannelLayer",
            "CONFIG": {
                "host": proxy.url_through(amqp_url),
                "local_capacity": LOCAL_CAPACITY,
                "remote_capacity": 100_000,
                "local_expiry": None,
                "expiry": 60,
            },
        }
    }
    hub = await Hub.ensure_started()
    await eventually(lambda: hub.link.healthy, 15, "the hub never reached the broker")
    yield hub, proxy
    await hub.stop()


async def eventually(condition: Callable[[], bool], timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message
        await asyncio.sleep(0.05)


@contextlib.contextmanager
def replacement_held_off(hub: Hub):
    """Keep the hub from replacing its layer meanwhile, so the fault meets the layer it wedges."""
    hub._last_replacement = time.monotonic() + 3600
    try:
        yield
    finally:
        hub._last_replacement = 0.0


class Stream:
    """One user's live socket, its request, and the ids of what was published to it."""

    def __init__(self, user, communicator, request_id):
        self.user, self.communicator, self.request_id = user, communicator, request_id
        self.published: list[str] = []
        self.received: list[str] = []

    @classmethod
    async def open(cls, username: str) -> "Stream":
        user = await make_user(username)
        tracked, _ = await database_sync_to_async(actions.do_create_request)(user, "Wedge drill")
        communicator, welcome = await signed_in_socket(user, resume=None)
        await communicator.send_json_to({"type": "resume", "cursor": welcome["cursor"]})
        await receive_until(communicator, "replayed")
        return cls(user, communicator, tracked.id)

    async def publish(self, count: int) -> None:
        for _ in range(count):
            event = await database_sync_to_async(actions.do_publish_status)(self.request_id, "processing", 50, "")
            self.published.append(str(event.id))

    async def receive_all(self, timeout: float) -> None:
        """Read until every published event has arrived, then a moment more for duplicates."""
        deadline = time.monotonic() + timeout
        while not set(self.published) <= set(self.received):
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"{len(set(self.published) - set(self.received))} events never arrived"
            frame = await self.communicator.receive_json_from(timeout=remaining)
            if frame["type"] == "event":
                self.received.append(frame["id"])
        assert await self.communicator.receive_nothing(timeout=1.0), "an extra frame arrived"
        assert sorted(self.received) == sorted(self.published), "an event arrived twice"


def report(name: str, stream: Stream) -> None:
    from .load import FAULT_LINES

    duplicated = len(stream.received) - len(set(stream.received))
    line = (
        f"FAULT {name}: published={len(stream.published)} clients=1 delivered={len(stream.received)} "
        f"lost={len(set(stream.published) - set(stream.received))} duplicated={duplicated}"
    )
    print(line)
    FAULT_LINES.append(line)


async def recovers_and_delivers(hub: Hub, wedged_layer, stream: Stream) -> None:
    """The hub drops the wedged layer for a fresh one, and the socket gets every event once."""
    await eventually(lambda: hub.link.layer is not wedged_layer, RECOVERY_SECS, "the hub kept the wedged layer")
    await eventually(lambda: hub.link.healthy, RECOVERY_SECS, "the new layer never answered its probe")
    await stream.publish(5)
    await stream.receive_all(timeout=RECOVERY_SECS)


async def test_a_full_local_buffer_at_disconnect_kills_the_layer_and_the_hub_replaces_it(rabbit_hub, monkeypatch):
    """Wedge 1: the local buffer is full when the link drops; the multiqueue's assert kills the reconnect task.

    The hub's reader is paused (a slow consumer) while its own channel fills
    the buffer; the link is reset; the first message after the reconnect
    trips `assert self.n < self.capacity` and the layer never reads again.
    """
    hub, proxy = rabbit_hub
    stream = await Stream.open("ada")
    await stream.publish(3)
    layer = hub.link.layer
    reading = asyncio.Event()
    real_receive = hub.link.receive

    async def paused_receive():
        await reading.wait()
        return await real_receive()

    monkeypatch.setattr(hub.link, "receive", paused_receive)
    with replacement_held_off(hub):
        await stream.receive_all(timeout=10)  # the read in flight when paused lets one more message through
        for number in range(LOCAL_CAPACITY + 1):
            await hub.link.call("send", hub.link.channel, {"type": "layer.probe", "number": -number})
        await eventually(lambda: layer._multi_queue.n == LOCAL_CAPACITY, WEDGE_SECS, "the local buffer never filled")
        await asyncio.to_thread(proxy.cut)
        await asyncio.to_thread(proxy.restore)
        await stream.publish(3)  # stored while the layer is away; one of them trips the assert
        trip = asyncio.ensure_future(layer.send(hub.link.channel, {"type": "layer.probe", "number": -100}))
        await eventually(layer._reconnect_forever_task.done, WEDGE_SECS, "the reconnect task survived")
        assert isinstance(layer._reconnect_forever_task.exception(), AssertionError)
        assert layer._multi_queue.n == LOCAL_CAPACITY, "the dead layer's buffer stays full: it never reads again"
        trip.cancel()
        reading.set()
    await recovers_and_delivers(hub, layer, stream)
    report("layer wedge 1: full buffer at disconnect", stream)


async def test_a_connection_lost_during_setup_kills_the_layer_and_the_hub_replaces_it(rabbit_hub, monkeypatch):
    """Wedge 2: the link drops during post-connect setup; carehare's ConnectionClosed escapes the reconnect task.

    Every later call on that layer waits on a connection future nobody will
    ever resolve.
    """
    hub, proxy = rabbit_hub
    stream = await Stream.open("ada")
    await stream.publish(3)
    await stream.receive_all(timeout=10)
    layer = hub.link.layer
    real_setup = channels_rabbitmq.core._setup_connection
    failures = []

    async def setup_that_loses_the_connection_once(**kwargs):
        if not failures:
            failures.append(kwargs["queue_name"])
            raise carehare.ConnectionClosed("connection lost during queue declare")
        return await real_setup(**kwargs)

    monkeypatch.setattr(channels_rabbitmq.core, "_setup_connection", setup_that_loses_the_connection_once)
    with replacement_held_off(hub):
        await asyncio.to_thread(proxy.cut)
        await asyncio.to_thread(proxy.restore)
        await eventually(layer._reconnect_forever_task.done, WEDGE_SECS, "the reconnect task survived")
        assert isinstance(layer._reconnect_forever_task.exception(), carehare.ConnectionClosed)
        await stream.publish(3)  # stored while the layer is dead
        hanging = asyncio.shield(layer.group_send(layer_messages.user_group(stream.user.pk), {"type": "layer.probe"}))
        done, _ = await asyncio.wait({hanging}, timeout=3)
        assert not done, "group_send on the dead layer returned; it used to hang forever"
    await recovers_and_delivers(hub, layer, stream)
    report("layer wedge 2: connection lost during setup", stream)
    layer._carehare_connection.cancel()  # release the hung call: the dropped layer is ours to break now
    await asyncio.gather(hanging, return_exceptions=True)


async def test_a_cancelled_wait_on_the_connection_future_breaks_the_layer_and_the_hub_replaces_it(rabbit_hub):
    """A fourth way: an unshielded call cancelled while the layer reconnects cancels its shared connection future.

    From then on every call on that layer raises CancelledError at once, and
    the reconnect task dies on `set_result` of the cancelled future. The hub's
    calls are shielded, but the CancelledError still came out of them and
    killed its probe loop, so the layer was never replaced; LayerLink.call now
    reports it as LayerUnavailable.
    """
    hub, proxy = rabbit_hub
    stream = await Stream.open("ada")
    layer = hub.link.layer
    with replacement_held_off(hub):
        await asyncio.to_thread(proxy.cut)
        await eventually(lambda: not layer._carehare_connection.done(), WEDGE_SECS, "the layer never noticed the cut")
        impatient = asyncio.ensure_future(
            layer.group_send(layer_messages.user_group(stream.user.pk), {"type": "layer.probe"})
        )
        await asyncio.sleep(0.1)
        impatient.cancel()  # e.g. a caller's own asyncio.wait_for without shield
        await asyncio.gather(impatient, return_exceptions=True)
        assert layer._carehare_connection.cancelled()
        await asyncio.to_thread(proxy.restore)
        await stream.publish(3)  # stored while the layer is broken
        await eventually(layer._reconnect_forever_task.done, WEDGE_SECS, "the reconnect task survived")
        assert isinstance(layer._reconnect_forever_task.exception(), asyncio.InvalidStateError)
        assert all(not task.done() for task in hub._tasks), "a hub task died of the layer's CancelledError"
    await recovers_and_delivers(hub, layer, stream)
    report("layer wedge 4: cancelled connection future", stream)


async def test_a_never_read_channel_stalls_the_layer_and_the_hub_replaces_it(rabbit_hub):
    """Wedge 3: a leaked channel in the user's group is never read; its copies fill the buffer and stall everything.

    With no `local_expiry` nothing ever frees the buffer: the hub's own
    channel starves too, and its probe fails.
    """
    hub, _ = rabbit_hub
    stream = await Stream.open("ada")
    layer = hub.link.layer
    leaked = await layer.new_channel()
    await layer.group_add(layer_messages.user_group(stream.user.pk), leaked)
    with replacement_held_off(hub):
        await stream.publish(LOCAL_CAPACITY + 5)
        await eventually(lambda: layer._multi_queue.n == LOCAL_CAPACITY, WEDGE_SECS, "the buffer never filled")
        await eventually(lambda: not hub.link.healthy, WEDGE_SECS, "the probe still got through")
        assert layer._multi_queue.n == LOCAL_CAPACITY, "the stalled buffer drained by itself"
    await recovers_and_delivers(hub, layer, stream)
    report("layer wedge 3: never-read channel", stream)
