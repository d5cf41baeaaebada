"""The hub: outbox re-sends, silent losses closed by the heads check, routing to local sockets."""

import asyncio
import json
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async

from notifications.models import Event
from notifications.protocol import layer_messages
from notifications.realtime import fanout as fanout_module
from notifications.store import actions, publishing
from tests.sockets import live_socket, make_user, publish

pytestmark = pytest.mark.django_db(transaction=True)


async def test_an_event_stored_by_another_process_is_sent_by_the_outbox_sweep(hub, monkeypatch):
    """An event written where no hub runs (a worker, a command) reaches sockets through the sweep."""
    monkeypatch.setattr(publishing, "_sink", None)
    user = await make_user("ada")
    communicator = await live_socket(user)
    _, event = await publish(user, title="From a worker")
    assert await communicator.receive_nothing(timeout=0.3)

    # Only now, so that the hub's own periodic sweep cannot have taken them first.
    monkeypatch.setattr(fanout_module, "OUTBOX_GRACE", timedelta(0))
    assert await hub.sweep_outbox() == 2
    frames = [await communicator.receive_json_from(timeout=5) for _ in range(2)]
    assert frames[-1]["id"] == str(event.id)
    stored = await database_sync_to_async(Event.objects.get)(id=event.id)
    assert stored.delivery_state == "fanned out"
    await communicator.disconnect()


async def test_a_failed_fan_out_is_re_sent_and_shows_as_re_sent(hub, monkeypatch):
    """When the layer refuses the first send, the event stays pending and the sweep re-sends it."""
    monkeypatch.setattr(fanout_module, "OUTBOX_GRACE", timedelta(0))
    user = await make_user("ada")
    communicator = await live_socket(user)
    real_send_all = hub.link.group_send_all

    async def refusing_group_send_all(items, **kwargs):
        return [False] * len(items)  # the broker confirmed none

    monkeypatch.setattr(hub.link, "group_send_all", refusing_group_send_all)
    _, event = await publish(user)
    await hub.watch.check_heads()  # the socket itself still catches up from the database, once seen stalled
    await hub.watch.check_heads()
    frames = [await communicator.receive_json_from(timeout=5) for _ in range(2)]
    assert frames[-1]["id"] == str(event.id)
    monkeypatch.setattr(hub.link, "group_send_all", real_send_all)
    await hub.sweep_outbox()
    stored = await database_sync_to_async(Event.objects.get)(id=event.id)
    assert stored.delivery_state == "re-sent"
    assert await communicator.receive_nothing(timeout=0.3), "the re-send was delivered twice"
    await communicator.disconnect()


async def test_a_gap_in_live_messages_is_read_from_the_database_in_order(hub, monkeypatch):
    """When a live message arrives after a lost one, the socket gets both, in stream order."""
    real = hub.on_events_stored
    dropped = []

    def drop_the_first(message):
        if not dropped:
            dropped.append(message)
            return
        real(message)

    monkeypatch.setattr(hub, "on_events_stored", drop_the_first)
    user = await make_user("ada")
    communicator = await live_socket(user)
    tracked, _ = await publish(user, title="Gap")
    frames = [await communicator.receive_json_from(timeout=5) for _ in range(2)]
    assert [f["request"]["status"] for f in frames] == ["queued", "processing"]
    [[_, _, encoded, _]] = dropped[0]["events"]
    assert frames[0]["id"] == json.loads("{" + encoded + "}")["id"]
    await communicator.disconnect()


async def test_status_reports_the_layer_and_sockets(hub):
    """The hub's status names the layer, its health and the sockets it holds."""
    await hub.link.probe(3)
    user = await make_user("ada")
    communicator = await live_socket(user)
    status = hub.status()
    assert status["layer"] == "in-process" and status["healthy"] and status["connections"] == 1
    await communicator.disconnect()


async def test_a_batch_for_many_users_is_one_message_and_each_socket_gets_only_its_own(hub, monkeypatch):
    """A commit for many users goes to every instance as one layer message; the hub hands each socket its user's."""
    users = [await make_user(f"user{i}") for i in range(layer_messages.MANY_GROUPS)]
    requests = [await database_sync_to_async(actions.do_create_request)(user, "Import") for user in users]
    ada, bob = users[0], users[1]
    ada_socket, bob_socket = await live_socket(ada), await live_socket(bob)
    sent_groups = []
    real_send_all = hub.link.group_send_all

    async def recording_send_all(items, **kwargs):
        sent_groups.extend(group for group, _ in items)
        return await real_send_all(items, **kwargs)

    monkeypatch.setattr(hub.link, "group_send_all", recording_send_all)
    changes = [actions.StatusChange(tracked.id, "processing", 50, f"for {tracked.owner_id}") for tracked, _ in requests]
    events = await database_sync_to_async(actions.do_publish_statuses)(changes)

    for socket, user, event in ((ada_socket, ada, events[0]), (bob_socket, bob, events[1])):
        frame = await socket.receive_json_from(timeout=5)
        assert frame["id"] == str(event.id) and frame["message"] == f"for {user.pk}"
        assert await socket.receive_nothing(timeout=0.3), "a socket received another user's event"
        await socket.disconnect()
    assert sent_groups == [layer_messages.everyone_group()]


async def test_a_hub_whose_start_failed_is_never_handed_out_and_the_next_caller_retries(monkeypatch):
    """If starting raises, no half-started hub stays running; the next `ensure_started` starts a fresh one."""
    from notifications.realtime.hub import Hub

    real_start = Hub.start
    attempts = []

    async def start_failing_once(self):
        attempts.append(self)
        if len(attempts) == 1:
            await real_start(self)
            raise RuntimeError("the layer refused us")
        await real_start(self)

    monkeypatch.setattr(Hub, "start", start_failing_once)
    with pytest.raises(RuntimeError):
        await Hub.ensure_started()
    assert Hub.running() is None
    assert all(task.done() for task in attempts[0].tasks) and len(attempts[0].tasks) == 0
    hub = await Hub.ensure_started()
    try:
        assert hub is attempts[1] and Hub.running() is hub
    finally:
        await hub.stop()


async def test_concurrent_first_callers_wait_for_one_start():
    """Sockets arriving together at a cold process all get the same hub, started once."""
    from notifications.realtime.hub import Hub

    hubs = await asyncio.gather(*(Hub.ensure_started() for _ in range(5)))
    try:
        assert len({id(hub) for hub in hubs}) == 1
    finally:
        await hubs[0].stop()
