"""An AMQP ingress batch is checked and stored as `POST /api/v1/events/` would be (PROTOCOL 5.3)."""

import json
import uuid

import pytest
from django.urls import reverse

from notifications.api.ingress import store_messages
from notifications.realtime.ingress import IngressMessage, IngressRefusal

pytestmark = pytest.mark.django_db


@pytest.fixture
def guest(make_service):
    return make_service("guest", publish=True)


def message(body, message_id="m-1", user_id="guest") -> IngressMessage:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return IngressMessage(raw, message_id, user_id)


def processing(tracked, **fields) -> dict:
    return {"request": str(tracked.id), "status": "processing", **fields}


def statuses(tracked) -> list[str]:
    return [event.payload["request"]["status"] for event in tracked.events.order_by("position")]


def test_a_valid_batch_is_stored_in_order(guest, alice_request):
    """Three moves of one request in one batch: all stored, in publishing order."""
    batch = [
        message(processing(alice_request, progress=10), "a"),
        message(processing(alice_request, progress=20), "b"),
        message({"request": str(alice_request.id), "status": "succeeded"}, "c"),
    ]
    assert store_messages(batch) == [None, None, None]
    assert statuses(alice_request) == ["queued", "processing", "processing", "succeeded"]


def test_a_refusal_in_a_batch_refuses_only_its_message(guest, alice_request):
    """A 409 in the middle: the batch is stored one by one, the others land."""
    batch = [
        message({"request": str(alice_request.id), "status": "succeeded"}, "a"),
        message(processing(alice_request), "b"),
        message(processing(alice_request, message="unknown"), "c", user_id="nobody"),
    ]
    outcomes = store_messages(batch)
    assert outcomes[0] is None
    assert outcomes[1].status == 409 and "final" in outcomes[1].detail
    assert outcomes[2] == IngressRefusal(403, "user_id: no service client has this name.")
    assert statuses(alice_request) == ["queued", "succeeded"]


def test_message_id_repeated_in_one_batch_is_stored_once(guest, alice_request):
    """The same key twice in a batch (a redelivery beside its original): one event; another body is 422."""
    outcomes = store_messages(
        [
            message(processing(alice_request, progress=5), "k"),
            message(processing(alice_request, progress=5), "k"),
            message(processing(alice_request, progress=6), "k"),
        ]
    )
    assert outcomes[:2] == [None, None] and outcomes[2].status == 422
    assert statuses(alice_request) == ["queued", "processing"]


def test_message_id_is_the_rest_idempotency_key(guest, alice_request, token_client):
    """A key used over REST, then as message_id with the same body: one event."""
    rest = token_client(guest[1])
    body = processing(alice_request, progress=30)
    assert rest.post(reverse("api:event-publish"), body, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 202
    assert store_messages([message(body, "k")]) == [None]
    assert statuses(alice_request) == ["queued", "processing"]
    [refusal] = store_messages([message(processing(alice_request, progress=31), "k")])
    assert refusal.status == 422


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        (b"{nope", 400, "JSON parse error"),
        (b'{"request": "x", "status": "processing", "progress": NaN}', 400, "progress: Must be a finite"),
        (b'{"request": "x", "status": "processing", "message": "\\u0000"}', 400, "message"),
        (b"\xff\xfe", 400, "utf-8"),
        ({"status": "processing"}, 400, "request"),
        ({"request": str(uuid.UUID(int=1)), "status": "processing"}, 404, "No request"),
    ],
)
def test_bad_bodies_are_refused_with_rests_status(guest, body, status, detail):
    [refusal] = store_messages([message(body)])
    assert refusal.status == status and detail in refusal.detail


def test_an_oversized_body_is_refused_before_parsing(guest, alice_request, settings):
    settings.NOTIFY_INGRESS_MAX_BODY_BYTES = 100
    [refusal] = store_messages([message(processing(alice_request, message="x" * 200))])
    assert refusal.status == 400 and "at most 100" in refusal.detail


@pytest.mark.parametrize(("message_id", "user_id", "status"), [(None, "guest", 400), ("m", None, 403), ("m", "", 403)])
def test_properties_are_required(guest, alice_request, message_id, user_id, status):
    [refusal] = store_messages([message(processing(alice_request), message_id, user_id)])
    assert refusal.status == status


def test_a_service_without_the_publish_permission_is_refused(make_service, alice_request):
    make_service("guest", broadcast=True)
    [refusal] = store_messages([message(processing(alice_request))])
    assert refusal.status == 403 and "publish" in refusal.detail
