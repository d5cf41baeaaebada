"""`/api/v1/notifications/`: a user's stream, its read marks and unread count."""

import json
import uuid

import pytest
from django.db import connection
from django.urls import reverse

from notifications.models import Event, RequestStatus
from notifications.store import actions, streams

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_stream(alice, bob, alice_request):
    """Alice's stream: her request's two events around an announcement; bob's event is not in it."""
    actions.do_broadcast("Maintenance")
    actions.do_publish_status(alice_request.id, RequestStatus.PROCESSING, progress=10)
    actions.do_create_request(bob, "Bob's")
    return list(Event.objects.filter(streams.stream_of(alice.pk)).order_by("position"))


def test_stream_is_newest_first_with_unread(signed_in, alice, alice_stream):
    """The list holds the user's events and announcements, newest first, all unread at first."""
    body = signed_in(alice).get(reverse("api:notification-list")).json()
    assert [item["id"] for item in body["results"]] == [str(e.id) for e in reversed(alice_stream)]
    assert body["unread"] == 3
    assert body["count"] == 3
    assert all(item["read"] is False for item in body["results"])


def test_items_are_the_stored_payload_plus_read(signed_in, alice, alice_stream):
    """Each item is the event as stored (as sockets get it) plus `read`."""
    newest = signed_in(alice).get(reverse("api:notification-list")).json()["results"][0]
    assert newest == {**alice_stream[-1].payload, "read": False}


def test_user_never_sees_another_users_events(signed_in, bob, alice_stream):
    """Bob's stream holds his own event and the announcement, never alice's events."""
    body = signed_in(bob).get(reverse("api:notification-list")).json()
    alice_ids = {str(e.id) for e in alice_stream if e.user_id is not None}
    assert not alice_ids & {item["id"] for item in body["results"]}
    assert [item["kind"] for item in body["results"]] == ["request.status", "announcement"]


def test_mark_read_moves_the_marker_and_answers_unread(signed_in, alice, alice_stream):
    """Marking up to the second event leaves one unread, and the list shows which."""
    client = signed_in(alice)
    middle = alice_stream[1]
    response = client.post(reverse("api:notification-read"), {"up_to": str(middle.id)}, format="json")
    assert response.status_code == 200
    assert response.json() == {"up_to": str(middle.id), "unread": 1}
    body = client.get(reverse("api:notification-list")).json()
    assert body["unread"] == 1
    assert [item["read"] for item in body["results"]] == [False, True, True]


def test_read_marker_never_moves_back(signed_in, alice, alice_stream):
    """Marking an older event read after a newer one keeps the newer mark."""
    client = signed_in(alice)
    client.post(reverse("api:notification-read"), {"up_to": str(alice_stream[-1].id)}, format="json")
    response = client.post(reverse("api:notification-read"), {"up_to": str(alice_stream[0].id)}, format="json")
    assert response.json()["unread"] == 0


def test_mark_read_tells_the_users_sockets_on_commit(
    signed_in, alice, alice_stream, django_capture_on_commit_callbacks
):
    """The other connections hear of the read mark once it is committed."""
    with django_capture_on_commit_callbacks() as callbacks:
        signed_in(alice).post(reverse("api:notification-read"), {"up_to": str(alice_stream[0].id)}, format="json")
    assert len(callbacks) == 1


@pytest.mark.parametrize("up_to", ["other-users", "unknown"])
def test_mark_read_of_an_event_outside_the_stream_is_404(signed_in, alice, bob, alice_stream, up_to):
    """An id of another user's event, or of no event, answers 404."""
    other = Event.objects.filter(user=bob).first().id if up_to == "other-users" else uuid.uuid4()
    response = signed_in(alice).post(reverse("api:notification-read"), {"up_to": str(other)}, format="json")
    assert response.status_code == 404


@pytest.mark.parametrize("body", [{}, {"up_to": "nope"}, {"up_to": None}])
def test_mark_read_bad_body_is_400_naming_up_to(signed_in, alice, body):
    """A missing or malformed `up_to` answers 400 naming it."""
    response = signed_in(alice).post(reverse("api:notification-read"), body, format="json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("up_to: ")


def test_stream_is_paginated(signed_in, alice, alice_stream):
    """`page_size` splits the stream into pages; `unread` counts the whole stream on every page."""
    client = signed_in(alice)
    first = client.get(reverse("api:notification-list"), {"page_size": 2}).json()
    second = client.get(first["next"]).json()
    assert [len(first["results"]), len(second["results"])] == [2, 1]
    assert first["unread"] == second["unread"] == 3
    assert second["next"] is None


@pytest.mark.django_db
def test_an_event_stored_with_poison_before_the_edge_checked_is_answered_repaired(signed_in, alice, alice_request):
    """A payload with lone surrogates and NUL (as SQLite kept them) is answered repaired, as valid JSON, not a 500."""
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL never stored such payloads: jsonb refuses them")
    event = alice_request.events.get()
    poisoned = {**event.payload, "message": "a\ud800b\x00", "data": {"k": ["\udfff"]}}
    Event.objects.filter(pk=event.pk).update(payload=poisoned)
    client = signed_in(alice)
    for name, args in (("api:notification-list", []), ("api:request-events", [alice_request.id])):
        response = client.get(reverse(name, args=args))
        assert response.status_code == 200
        [answered] = json.loads(response.content.decode("utf-8"))["results"]
        assert answered["message"] == "a\ufffdb\ufffd"
        assert answered["data"] == {"k": ["\ufffd"]}
