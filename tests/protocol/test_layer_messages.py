"""Which layer messages carry a commit's events (notifications/protocol/layer_messages.py)."""

import json
from datetime import UTC, datetime

from notifications.models import Event, EventKind
from notifications.protocol import layer_messages


def stored(position: int, user_id: int | None, seq: int) -> Event:
    kind = EventKind.ANNOUNCEMENT if user_id is None else EventKind.REQUEST_STATUS
    payload = {"id": f"event-{position}", "kind": kind.value, "created_at": "2026-11-30T12:00:00+00:00"}
    created_at = datetime(2026, 11, 30, 12, tzinfo=UTC)
    return Event(position=position, kind=kind, user_id=user_id, seq=seq, payload=payload, created_at=created_at)


def test_a_users_events_travel_in_one_message_to_that_users_group(settings):
    settings.NOTIFY_NAMESPACE = "t"
    [outgoing] = layer_messages.outgoing_for([stored(10, 7, 1), stored(11, 7, 2)])
    assert outgoing.group == "t.user.7"
    assert outgoing.positions == (10, 11)
    assert outgoing.message["type"] == layer_messages.EVENTS_MESSAGE
    assert [(user_id, seq) for user_id, seq, _, _ in outgoing.message["events"]] == [(7, 1), (7, 2)]


def test_the_payload_is_encoded_once_for_every_socket_and_carries_its_time():
    [outgoing] = layer_messages.outgoing_for([stored(10, 7, 1)])
    [[_, _, encoded, created_at]] = outgoing.message["events"]
    assert json.loads("{" + encoded + "}")["id"] == "event-10"
    assert created_at == datetime(2026, 11, 30, 12, tzinfo=UTC).timestamp()


def test_announcements_go_to_everyone():
    [outgoing] = layer_messages.outgoing_for([stored(5, None, 3)])
    assert outgoing.group == layer_messages.everyone_group()
    assert outgoing.message["events"][0][0] is None


def test_a_few_users_get_one_message_each_in_commit_order():
    events = [stored(1, 7, 1), stored(2, 8, 1), stored(3, 7, 2)]
    outgoing = layer_messages.outgoing_for(events)
    assert [(o.group.rsplit(".", 1)[-1], o.positions) for o in outgoing] == [("7", (1, 3)), ("8", (2,))]


def test_many_users_share_one_message_to_every_instance():
    events = [stored(100 + user_id, user_id, 1) for user_id in range(layer_messages.MANY_GROUPS)]
    [outgoing] = layer_messages.outgoing_for(events)
    assert outgoing.group == layer_messages.everyone_group()
    assert outgoing.positions == tuple(range(100, 100 + layer_messages.MANY_GROUPS))
    assert [user_id for user_id, _, _, _ in outgoing.message["events"]] == list(range(layer_messages.MANY_GROUPS))
