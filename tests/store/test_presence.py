"""Presence: batched writes that never lose a delete, heartbeats, expiry of dead instances, draining."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from notifications.models import Connection
from notifications.realtime.presence_writer import PresenceWriter
from notifications.store import presence
from tests.sockets import make_user, open_socket, receive_until, session_cookie, signed_in_socket

pytestmark = pytest.mark.django_db(transaction=True)


def fake_socket(number: int, user_id: int):
    now = timezone.now()
    return SimpleNamespace(
        connection_id=f"c{number:031d}", user_id=user_id, protocol="json", connected_at=now, last_activity=now
    )


@database_sync_to_async
def row_ids() -> set[str]:
    return set(Connection.objects.values_list("connection_id", flat=True))


async def test_a_burst_of_connects_and_disconnects_leaves_exactly_the_open_ones():
    """Sixty sockets open at once and half close: one batch, and the count is right."""
    user = await make_user("ada")
    sockets = [fake_socket(n, user.pk) for n in range(60)]
    writer = PresenceWriter("A", lambda: sockets)
    for s in sockets:
        writer.connected(s)
    await writer.flush()
    for s in sockets[::2]:
        writer.disconnected(s)
    await writer.flush()
    assert await row_ids() == {s.connection_id for s in sockets[1::2]}


async def test_a_socket_that_closes_before_its_row_is_written_costs_nothing(monkeypatch):
    """Connect then disconnect within one batch cancels out in memory."""
    user = await make_user("ada")
    calls = []
    monkeypatch.setattr(presence, "apply_changes", lambda *args: calls.append(args))
    writer = PresenceWriter("A", lambda: [])
    s = fake_socket(1, user.pk)
    writer.connected(s)
    writer.disconnected(s)
    await writer.flush()
    assert calls == []


async def test_a_failed_batch_is_written_again_and_no_delete_is_lost(monkeypatch):
    """When the database refuses a batch, its inserts and deletes stay queued for the next one."""
    user = await make_user("ada")
    a, b = fake_socket(1, user.pk), fake_socket(2, user.pk)
    writer = PresenceWriter("A", lambda: [a, b])
    writer.connected(a)
    await writer.flush()
    real = presence.apply_changes

    def refuse(*args):
        raise RuntimeError("database away")

    monkeypatch.setattr(presence, "apply_changes", refuse)
    writer.disconnected(a)
    writer.connected(b)
    with pytest.raises(RuntimeError):
        await writer.flush()
    monkeypatch.setattr(presence, "apply_changes", real)
    await writer.flush()
    assert await row_ids() == {b.connection_id}


async def test_heartbeat_keeps_rows_fresh_and_stale_rows_of_dead_instances_stop_counting(settings):
    """Rows beat by a live instance count; rows nobody refreshed within the timeout neither count nor stay."""
    settings.NOTIFY_PRESENCE_TIMEOUT_SECS = 30
    ada, bob = await make_user("ada"), await make_user("bob")
    live = fake_socket(1, ada.pk)
    writer = PresenceWriter("A", lambda: [live])
    writer.connected(live)
    await writer.flush()
    old = timezone.now() - timedelta(seconds=120)
    await database_sync_to_async(Connection.objects.create)(
        connection_id="dead", user=bob, instance="B", process="x", connected_at=old, last_activity=old, last_seen=old
    )
    snapshot = await database_sync_to_async(presence.online_snapshot)()
    assert [u["username"] for u in snapshot["users"]] == ["ada"]
    assert snapshot["instances"] == [{"name": "A", "connections": 1}] and snapshot["online_users"] == 1

    live.last_activity = timezone.now()
    assert await writer.heartbeat() == set()
    assert await row_ids() == {live.connection_id}, "the heartbeat deletes stale rows"
    row = await database_sync_to_async(Connection.objects.get)(pk=live.connection_id)
    assert row.last_activity == live.last_activity


async def test_rows_deleted_as_stale_while_cut_off_are_written_again():
    """An instance whose rows another one deleted (it could not beat) writes them again."""
    user = await make_user("ada")
    live = fake_socket(1, user.pk)
    writer = PresenceWriter("A", lambda: [live])
    writer.connected(live)
    await writer.flush()
    await database_sync_to_async(Connection.objects.all().delete)()
    await writer.heartbeat()
    await writer.flush()
    assert await row_ids() == {live.connection_id}


async def test_a_live_socket_is_recorded_and_drain_closes_it_with_1001_and_deletes_its_row(hub):
    """What SIGTERM does: every socket closes with 1001 and this instance leaves no presence row."""
    user = await make_user("ada")
    communicator, welcome = await signed_in_socket(user)
    await communicator.send_json_to({"type": "resume", "cursor": welcome["cursor"]})
    await receive_until(communicator, "replayed")
    await hub.presence.flush()
    snapshot = await database_sync_to_async(presence.online_snapshot)()
    assert snapshot["connections"] == 1
    assert snapshot["users"][0]["connections"][0]["connection_id"] == welcome["connection_id"]

    drained = hub.loop.create_task(hub.drain())
    assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": 1001}
    await communicator.disconnect()
    await drained
    assert await row_ids() == set()
    late, connected, _ = await open_socket(await session_cookie(user))
    assert connected, "a socket opened while draining is accepted, then sent elsewhere"
    assert await late.receive_output(timeout=5) == {"type": "websocket.close", "code": 1001}
