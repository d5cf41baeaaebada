"""`POST /api/v1/events/batch/`: several status events in one transaction, all or none."""

import uuid

import pytest
from django.urls import reverse

from notifications.api import serializers
from notifications.api.serializers import MAX_BATCH_EVENTS
from notifications.models import Event
from notifications.store import actions
from tests.api.bad_bodies import BAD_BODIES, expected_400

pytestmark = pytest.mark.django_db


def publish_batch(client, *items, **headers):
    return client.post(reverse("api:event-publish-batch"), {"events": list(items)}, format="json", headers=headers)


def item(tracked, status="processing", **fields):
    return {"request": str(tracked.id), "status": status, **fields}


@pytest.fixture
def bob_request(bob):
    tracked, _ = actions.do_create_request(bob, "Import")
    return tracked


def test_batch_stores_every_event_in_order_and_answers_them(publisher, alice_request, bob_request):
    """The answer lists the stored events in the order sent; each owner's stream gets its own, in order."""
    response = publish_batch(
        publisher,
        item(alice_request, progress=10),
        item(bob_request, progress=50, message="Half"),
        item(alice_request, "succeeded", data={"url": "/f"}),
    )
    assert response.status_code == 202
    answered = response.json()["events"]
    assert [e["request"]["id"] for e in answered] == [str(alice_request.id), str(bob_request.id), str(alice_request.id)]
    assert [e["request"]["status"] for e in answered] == ["processing", "processing", "succeeded"]
    assert [e["request"]["progress"] for e in answered] == [10, 50, 100]
    assert answered == [Event.objects.get(id=e["id"]).payload for e in answered]
    alice_seqs = list(alice_request.events.order_by("position").values_list("seq", flat=True))
    assert alice_seqs == [1, 2, 3]  # created, then the two of the batch
    alice_request.refresh_from_db()
    bob_request.refresh_from_db()
    assert (alice_request.status, alice_request.progress) == ("succeeded", 100)
    assert (bob_request.status, bob_request.progress, bob_request.message) == ("processing", 50, "Half")


def test_batch_fans_out_once_on_commit(publisher, alice_request, bob_request, django_capture_on_commit_callbacks):
    """The whole batch is handed to the hub in one callback after the commit."""
    with django_capture_on_commit_callbacks() as callbacks:
        assert publish_batch(publisher, item(alice_request), item(bob_request)).status_code == 202
    assert len(callbacks) == 1


def test_unknown_request_refuses_the_whole_batch_naming_the_item(publisher, alice_request):
    """One unknown request answers 404 naming its place, and nothing of the batch is stored."""
    before = Event.objects.count()
    response = publish_batch(publisher, item(alice_request), {"request": str(uuid.uuid4()), "status": "processing"})
    assert response.status_code == 404
    assert response.json()["detail"].startswith("events[1].request: ")
    assert Event.objects.count() == before
    alice_request.refresh_from_db()
    assert alice_request.status == "queued"


def test_event_after_a_terminal_one_in_the_same_batch_is_409(publisher, alice_request):
    """A request finished earlier in the batch takes no further event: 409 naming it, nothing stored."""
    before = Event.objects.count()
    response = publish_batch(publisher, item(alice_request, "failed"), item(alice_request, "processing"))
    assert response.status_code == 409
    assert response.json()["detail"].startswith("events[1].request: The request is already failed")
    assert Event.objects.count() == before


@pytest.mark.parametrize(
    ("events", "field"),
    [
        ([], "events"),
        (None, "events"),
        ([{"status": "processing"}], "events[0].request"),
        ([{"request": "00000000-0000-0000-0000-000000000000", "status": "done"}], "events[0].status"),
    ],
)
def test_bad_batch_is_400_naming_the_field(publisher, events, field):
    """An empty or invalid batch answers 400 whose detail starts with the offending item's field."""
    response = publisher.post(reverse("api:event-publish-batch"), {"events": events}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith(f"{field}: ")


def test_bad_item_is_named_by_its_place(publisher, alice_request):
    """A bad field of the third item is named `events[2].progress`."""
    response = publish_batch(publisher, item(alice_request), item(alice_request), item(alice_request, progress=101))
    assert response.status_code == 400
    assert response.json()["detail"].startswith("events[2].progress: ")


def test_batch_over_the_limit_is_400(publisher, alice_request):
    """More than MAX_BATCH_EVENTS items are refused as a whole."""
    response = publish_batch(publisher, *[item(alice_request)] * (MAX_BATCH_EVENTS + 1))
    assert response.status_code == 400
    assert response.json()["detail"].startswith("events: ")
    assert alice_request.events.count() == 1


def test_batch_needs_the_publish_permission(broadcaster, signed_in, alice, alice_request):
    """A service without publish, and a signed-in user, are refused with 403."""
    assert publish_batch(broadcaster, item(alice_request)).status_code == 403
    assert publish_batch(signed_in(alice), item(alice_request)).status_code == 403
    assert alice_request.events.count() == 1


def test_batch_honours_idempotency_key(publisher, alice_request):
    """A retried batch with the same key answers the first answer and stores nothing more."""
    first = publish_batch(publisher, item(alice_request, progress=5), **{"Idempotency-Key": "batch-1"})
    again = publish_batch(publisher, item(alice_request, progress=5), **{"Idempotency-Key": "batch-1"})
    assert again.status_code == 202
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert alice_request.events.count() == 2


def test_backward_move_in_a_batch_is_409_naming_the_item(publisher, alice_request, bob_request):
    """A move back in item 2 (against the state item 0 left) refuses the batch: 409 naming `events[2]`."""
    before = Event.objects.count()
    response = publish_batch(
        publisher, item(alice_request, progress=60), item(bob_request), item(alice_request, progress=30)
    )
    assert response.status_code == 409
    body = response.json()
    assert body["detail"].startswith("events[2].request: The request is processing (progress 60)")
    assert body["current"] == {"status": "processing", "progress": 60}
    assert Event.objects.count() == before


@pytest.mark.parametrize("text", [*BAD_BODIES, '{"events": {}}', '{"events": []}', '{"events": [], "x": NaN}', "{}"])
def test_a_bad_batch_answers_the_serializers_400_word_for_word(publisher, alice_request, text):
    """A bad item among good ones, or a bad batch: PublishBatchSerializer's own 400, `detail`, `code` and `errors`."""
    good = f'{{"request": "{alice_request.id}", "status": "processing"}}'
    if text.startswith('{"request"') or text.startswith('{"status"'):
        text = f'{{"events": [{good}, {text}, {good}]}}'
    text = text.replace("%s", str(alice_request.id))
    response = publisher.post(reverse("api:event-publish-batch"), text, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == expected_400(serializers.PublishBatchSerializer, text)
    assert alice_request.events.count() == 1
