"""`POST /api/v1/events/` and `POST /api/v1/broadcasts/`: storing events for delivery."""

import uuid

import pytest
from django.urls import reverse

from notifications.api import serializers
from notifications.models import Event, EventKind, RequestStatus
from notifications.store import actions
from tests.api.bad_bodies import BAD_BODIES, expected_400

pytestmark = pytest.mark.django_db

STATUS_EVENT_FIELDS = {"id", "kind", "created_at", "request", "message", "data"}


def publish(client, tracked, **fields):
    body = {"request": str(tracked.id), "status": "processing", **fields}
    return client.post(reverse("api:event-publish"), body, format="json")


def test_publish_stores_the_event_and_answers_202_with_it(publisher, alice_request):
    """A status event is stored before the answer, which is the stored event itself."""
    response = publish(publisher, alice_request, progress=40, message="Working", data={"step": 2})
    assert response.status_code == 202
    body = response.json()
    stored = Event.objects.get(id=body["id"])
    assert body == stored.payload
    assert set(body) == STATUS_EVENT_FIELDS
    assert body["kind"] == EventKind.REQUEST_STATUS
    assert body["request"]["status"] == "processing"
    assert body["request"]["progress"] == 40
    assert (body["message"], body["data"]) == ("Working", {"step": 2})
    alice_request.refresh_from_db()
    assert (alice_request.status, alice_request.progress, alice_request.message) == ("processing", 40, "Working")


def test_publish_fans_out_only_after_commit(publisher, alice_request, django_capture_on_commit_callbacks):
    """Delivery to sockets is scheduled on commit, once per stored event."""
    with django_capture_on_commit_callbacks() as callbacks:
        assert publish(publisher, alice_request).status_code == 202
    assert len(callbacks) == 1


def test_unknown_request_is_404(publisher):
    """An event for a request that does not exist answers 404 and stores nothing."""
    response = publisher.post(
        reverse("api:event-publish"), {"request": str(uuid.uuid4()), "status": "processing"}, format="json"
    )
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert not Event.objects.exists()


@pytest.mark.parametrize("terminal", ["succeeded", "failed", "cancelled"])
def test_event_after_a_terminal_status_is_409(publisher, alice_request, terminal):
    """Once succeeded, failed or cancelled, a request takes no further event."""
    assert publish(publisher, alice_request, status=terminal).status_code == 202
    response = publish(publisher, alice_request, status="processing")
    assert response.status_code == 409
    assert response.json()["code"] == "conflict"
    assert alice_request.events.count() == 2


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"request": None}, "request"),
        ({"request": "not-a-uuid"}, "request"),
        ({"status": "done"}, "status"),
        ({"status": None}, "status"),
        ({"progress": 101}, "progress"),
        ({"progress": -1}, "progress"),
        ({"progress": "half"}, "progress"),
        ({"message": "m" * 1001}, "message"),
        ({"data": ["not", "an", "object"]}, "data"),
    ],
)
def test_bad_body_is_400_naming_the_field(publisher, alice_request, fields, field):
    """Each invalid field answers 400 whose detail starts with the field's name."""
    response = publish(publisher, alice_request, **fields)
    assert response.status_code == 400
    assert response.json()["detail"].startswith(f"{field}: ")
    assert list(response.json()["errors"]) == [field]


def test_missing_fields_are_all_named(publisher):
    """An empty body names both required fields."""
    response = publisher.post(reverse("api:event-publish"), {}, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"request", "status"}


def test_success_without_progress_completes_it(publisher, alice_request):
    """`succeeded` without a progress means 100%."""
    response = publish(publisher, alice_request, status="succeeded")
    assert response.json()["request"]["progress"] == 100


def test_staff_broadcasts_an_announcement(signed_in, staff):
    """A staff user's announcement is stored for everyone and answered 202 as stored."""
    response = signed_in(staff).post(
        reverse("api:broadcast"), {"title": "Maintenance", "body": "At noon", "level": "warning"}, format="json"
    )
    assert response.status_code == 202
    body = response.json()
    event = Event.objects.get(id=body["id"])
    assert event.user_id is None
    assert body == event.payload
    assert (body["kind"], body["title"], body["body"], body["level"]) == (
        "announcement",
        "Maintenance",
        "At noon",
        "warning",
    )


def test_broadcasting_service_announces_with_default_level(broadcaster):
    """A service with the broadcast permission may announce; the level defaults to info."""
    response = broadcaster.post(reverse("api:broadcast"), {"title": "Hello"}, format="json")
    assert response.status_code == 202
    assert (response.json()["level"], response.json()["body"]) == ("info", "")


@pytest.mark.parametrize(
    ("body", "field"), [({}, "title"), ({"title": "x" * 201}, "title"), ({"title": "x", "level": "loud"}, "level")]
)
def test_bad_broadcast_is_400_naming_the_field(broadcaster, body, field):
    """A missing or invalid field of an announcement answers 400 naming it."""
    response = broadcaster.post(reverse("api:broadcast"), body, format="json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith(f"{field}: ")


def test_published_event_reaches_the_owners_history(publisher, signed_in, alice, alice_request):
    """What a service publishes is what the owner reads back."""
    event = publish(publisher, alice_request, status=RequestStatus.FAILED, message="Out of disk").json()
    history = signed_in(alice).get(reverse("api:request-events", args=[alice_request.id])).json()["results"]
    assert history[-1] == event


def test_actions_publish_is_what_the_api_calls(publisher, alice_request, monkeypatch):
    """The view changes state only through actions.do_publish_statuses, with the checked fields."""
    calls = []
    real = actions.do_publish_statuses

    def spy(changes, publisher=None):
        calls.append((changes, publisher.name))
        return real(changes, publisher=publisher)

    monkeypatch.setattr(actions, "do_publish_statuses", spy)
    publish(publisher, alice_request, progress=10)
    assert calls == [([actions.StatusChange(alice_request.id, "processing", 10, "", {})], "publisher")]


def test_backward_move_is_409_naming_the_current_state(publisher, alice_request):
    """`processing 80` then `processing 20` answers 409 with the current status and progress; nothing stored."""
    assert publish(publisher, alice_request, progress=80).status_code == 202
    response = publish(publisher, alice_request, progress=20)
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "conflict"
    assert body["current"] == {"status": "processing", "progress": 80}
    assert "processing (progress 80)" in body["detail"]
    assert alice_request.events.count() == 2
    alice_request.refresh_from_db()
    assert (alice_request.status, alice_request.progress) == ("processing", 80)


@pytest.mark.parametrize(("first", "then"), [("processing", "queued"), ("queued", "queued")])
def test_moves_that_are_not_forward_are_409(publisher, alice_request, first, then):
    """`processing` then `queued`, and `queued` again, answer 409 and store nothing."""
    if first != "queued":
        assert publish(publisher, alice_request, status=first).status_code == 202
    before = alice_request.events.count()
    response = publish(publisher, alice_request, status=then)
    assert response.status_code == 409
    assert response.json()["current"]["status"] == first
    assert alice_request.events.count() == before


def test_data_over_the_size_bound_is_400_naming_data(publisher, alice_request, settings):
    """`data` larger than NOTIFY_MAX_EVENT_DATA_BYTES as JSON answers 400 naming `data`; at the bound it is taken."""
    settings.NOTIFY_MAX_EVENT_DATA_BYTES = 100
    at_bound = {"k": "x" * (100 - len('{"k":""}'))}
    assert publish(publisher, alice_request, data=at_bound).status_code == 202
    response = publish(publisher, alice_request, data={"k": "x" * 200})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("data: Must encode to at most 100 bytes")
    assert alice_request.events.count() == 2


def test_data_size_bound_defaults_to_16_kib(publisher, alice_request):
    """Without the setting, 16 KiB of `data` is taken and more is refused."""
    assert publish(publisher, alice_request, data={"k": "x" * (16 * 1024 - 8)}).status_code == 202
    assert publish(publisher, alice_request, data={"k": "x" * 16 * 1024}).status_code == 400


@pytest.mark.parametrize("text", BAD_BODIES)
def test_a_bad_body_answers_the_serializers_400_word_for_word(publisher, alice_request, text):
    """The fast checks leave every refusal to PublishStatusSerializer: the same `detail`, `code` and `errors`."""
    text = text.replace("%s", str(alice_request.id))
    response = publisher.post(reverse("api:event-publish"), text, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == expected_400(serializers.PublishStatusSerializer, text)
