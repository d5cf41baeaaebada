"""The connection-event outbox: written with the presence rows, once per type, lost sockets, claims."""

import asyncio
import json
from datetime import timedelta
from types import SimpleNamespace

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from notifications.models import Connection, ConnectionEvent
from notifications.realtime.connection_events import disconnect_code_and_reason
from notifications.realtime.presence_writer import PresenceWriter
from notifications.store import connection_events, presence
from tests.sockets import make_user

pytestmark = pytest.mark.django_db(transaction=True)


def fake_socket(number: int, user, protocol: str = "json", **ended):
    now = timezone.now()
    return SimpleNamespace(
        connection_id=f"e{number:031d}",
        user_id=user.pk,
        user=user,
        protocol=protocol,
        connected_at=now,
        last_activity=now,
        **ended,
    )


@database_sync_to_async
def bodies() -> list[dict]:
    return [json.loads(e.body) for e in ConnectionEvent.objects.order_by("position")]


async def test_a_socket_that_opens_and_closes_within_one_batch_still_gets_both_events():
    """Presence cancels the row out in memory, but connected and disconnected are both stored, in order."""
    user = await make_user("ada")
    writer = PresenceWriter("A", lambda: [])
    s = fake_socket(1, user, "stomp", closed_with=None, end_code=1000)
    writer.connected(s)
    writer.disconnected(s)
    await writer.flush()
    connected, disconnected = await bodies()
    assert connected["type"] == "user.connected" and disconnected["type"] == "user.disconnected"
    assert connected["user"] == {"id": user.pk, "username": "ada"}
    assert connected["protocol"] == "stomp" and connected["instance"] == "A"
    assert connected["at"].endswith("Z") and connected["event_id"] != disconnected["event_id"]
    assert (disconnected["code"], disconnected["reason"]) == (1000, "client")
    assert set(connected) == {"type", "event_id", "user", "connection_id", "instance", "protocol", "at"}
    assert set(disconnected) == set(connected) | {"code", "reason"}


async def test_a_second_disconnect_of_one_socket_is_dropped():
    """A socket declared lost that closes later (or any repeat) keeps exactly one event of each type."""
    user = await make_user("ada")
    s = fake_socket(2, user)
    first = connection_events.build(
        "user.disconnected", user={"id": user.pk, "username": "ada"}, connection_id=s.connection_id,
        instance="A", protocol="json", at=timezone.now(), code=None, reason="instance_lost",
    )  # fmt: skip
    again = connection_events.build(
        "user.disconnected", user={"id": user.pk, "username": "ada"}, connection_id=s.connection_id,
        instance="A", protocol="json", at=timezone.now(), code=1000, reason="client",
    )  # fmt: skip
    assert await database_sync_to_async(connection_events.record)([first]) == 1
    assert await database_sync_to_async(connection_events.record)([again]) == 0
    assert [b["reason"] for b in await bodies()] == ["instance_lost"]


async def test_rows_of_a_dead_instance_are_declared_lost_once():
    """Stale presence rows go with one instance_lost disconnect each; a second sweep finds nothing."""
    user = await make_user("ada")
    writer = PresenceWriter("dead", lambda: [])
    sockets = [fake_socket(n, user, "mqtt") for n in range(3)]
    for s in sockets:
        writer.connected(s)
    await writer.flush()
    old = timezone.now() - timedelta(hours=1)
    await database_sync_to_async(Connection.objects.update)(last_seen=old)
    assert await database_sync_to_async(presence.delete_stale)() == 3
    assert await database_sync_to_async(presence.delete_stale)() == 0
    lost = [b for b in await bodies() if b["type"] == "user.disconnected"]
    assert sorted(b["connection_id"] for b in lost) == sorted(s.connection_id for s in sockets)
    assert {(b["reason"], b["code"], b["instance"], b["protocol"]) for b in lost} == {
        ("instance_lost", None, "dead", "mqtt")
    }


async def test_a_clean_shutdown_stores_a_shutdown_disconnect_for_every_local_socket():
    """Stopping deletes the process's rows and stores 1001 `shutdown` for each socket still here."""
    user = await make_user("ada")
    sockets = [fake_socket(n, user) for n in range(2)]
    writer = PresenceWriter("A", lambda: sockets)
    for s in sockets:
        writer.connected(s)
    await writer.flush()
    await writer.close()
    for s in sockets:  # their real closes come after: dropped
        writer.disconnected(s)
    await writer.flush()
    ended = [b for b in await bodies() if b["type"] == "user.disconnected"]
    assert [(b["code"], b["reason"]) for b in ended] == [(1001, "shutdown")] * 2
    assert not await database_sync_to_async(Connection.objects.exists)()


async def test_claimed_events_are_not_claimed_again_until_released():
    """A claim leases events: a second claimer gets none; released ones come back; published ones never."""
    user = await make_user("ada")
    writer = PresenceWriter("A", lambda: [])
    for n in range(3):
        writer.connected(fake_socket(n, user))
    await writer.flush()
    claimed = await database_sync_to_async(connection_events.claim_unpublished)()
    assert len(claimed) == 3
    assert await database_sync_to_async(connection_events.claim_unpublished)() == []
    await database_sync_to_async(connection_events.release)([claimed[0].pk])
    await database_sync_to_async(connection_events.mark_published)([e.pk for e in claimed[1:]])
    again = await database_sync_to_async(connection_events.claim_unpublished)()
    assert [e.pk for e in again] == [claimed[0].pk]


def test_the_reason_names_who_closed_and_why():
    """This side's code wins (4000 session_ended, 1001 shutdown, 1011 error, limits refused); else the client."""
    assert disconnect_code_and_reason(None, 1000) == (1000, "client")
    assert disconnect_code_and_reason(None, None) == (None, "client")
    assert disconnect_code_and_reason(None, 1011) == (1011, "error")
    assert disconnect_code_and_reason(4000, 4000) == (4000, "session_ended")
    assert disconnect_code_and_reason(1001, 1006) == (1001, "shutdown")
    assert disconnect_code_and_reason(1011, 1011) == (1011, "error")
    assert disconnect_code_and_reason(4429, 4429) == (4429, "refused")
    assert disconnect_code_and_reason(1009, 1009) == (1009, "refused")
    assert disconnect_code_and_reason(1000, 1000) == (1000, "client")  # the answer to a client's DISCONNECT
    for refusal in (4401, 4408, 1002, 1003, 1008):
        assert disconnect_code_and_reason(refusal, 1006) == (refusal, "refused")


async def test_a_published_message_is_persistent_json_routed_by_its_type_and_awaits_its_confirm():
    """The frames carry delivery_mode 2, the event id as message_id, the type as routing key; the body is split."""
    from notifications.realtime.connection_events import ExchangePublisher

    frames = []
    channel = SimpleNamespace(
        exchange_name="notify.connections",
        _frame_max=40,
        _delivering={},
        _next_delivery_tag=1,
        _frame_writer=SimpleNamespace(send_frames=frames.extend),
    )
    publisher = ExchangePublisher("amqp://127.0.0.1")
    publisher.connection = SimpleNamespace(_protocol=SimpleNamespace(_get_exchange_channel=lambda name: channel))
    event = connection_events.build(
        "user.connected", user={"id": 1, "username": "ada"}, connection_id="c" * 32,
        instance="A", protocol="sse", at=timezone.now(),
    )  # fmt: skip
    confirmed = publisher._send(event)
    publish, header, *bodies = frames
    assert (publish.exchange, publish.routing_key) == ("notify.connections", "user.connected")
    assert header.properties.delivery_mode == 2 and header.properties.message_id == str(event.event_id)
    assert header.properties.content_type == "application/json"
    assert b"".join(b.value for b in bodies).decode() == event.body and len(bodies) > 1
    assert not confirmed.done() and channel._delivering == {1: confirmed}


async def test_the_exchange_publisher_moves_to_the_next_listed_node_after_a_failure(monkeypatch):
    """On a cluster, a failed connect or publish makes the next attempt use the next node (wrapping)."""
    from notifications.realtime import connection_events as publishing_events

    tried, third_try = [], asyncio.Event()
    publisher = publishing_events.ExchangePublisher(["amqp://node-1/", "amqp://node-2/"])
    publisher.reconnect_min_secs = 0.01

    async def failing_connect() -> None:
        tried.append(publisher.nodes.address)
        if len(tried) == 3:
            third_try.set()
        raise ConnectionError("refused")

    monkeypatch.setattr(publisher, "_connect", failing_connect)
    running = asyncio.ensure_future(publisher.run_forever())
    await asyncio.wait_for(third_try.wait(), 5)
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
    assert tried[:3] == ["node-1:5672", "node-2:5672", "node-1:5672"]
