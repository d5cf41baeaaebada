"""`Idempotency-Key`: a retry answers the first answer and acts once."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from notifications.models import Event, IdempotencyRecord, TrackedRequest

pytestmark = pytest.mark.django_db


def publish(client, tracked, key, status="processing"):
    body = {"request": str(tracked.id), "status": status}
    return client.post(reverse("api:event-publish"), body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_retry_returns_the_first_answer_and_stores_one_event(publisher, alice_request):
    """The same key twice: one event, the same status and body, the retry marked as replayed."""
    first = publish(publisher, alice_request, "k-1")
    retry = publish(publisher, alice_request, "k-1")
    assert first.status_code == retry.status_code == 202
    assert retry.json() == first.json()
    assert retry["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")
    assert alice_request.events.count() == 2  # the queued event and this one


def test_retry_after_a_terminal_event_is_not_a_conflict(publisher, alice_request):
    """Retrying the request that finished the job answers its 202, not 409."""
    assert publish(publisher, alice_request, "done", status="succeeded").status_code == 202
    assert publish(publisher, alice_request, "done", status="succeeded").status_code == 202


def test_different_keys_act_twice(publisher, alice_request):
    """Distinct keys are distinct operations."""
    publish(publisher, alice_request, "a")
    publish(publisher, alice_request, "b")
    assert alice_request.events.count() == 3


def test_keys_are_per_caller(make_service, token_client, alice_request):
    """Two services using the same key do not see each other's answers."""
    first = token_client(make_service("one", publish=True)[1])
    second = token_client(make_service("two", publish=True)[1])
    assert publish(first, alice_request, "same").json() != publish(second, alice_request, "same").json()
    assert IdempotencyRecord.objects.count() == 2


def test_refused_calls_are_not_remembered(publisher, alice_request):
    """A 400 is not stored: the corrected retry with the same key acts, and is remembered from then on."""
    bad = publisher.post(
        reverse("api:event-publish"), {"request": str(alice_request.id)}, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert bad.status_code == 400
    assert publish(publisher, alice_request, "k").status_code == 202
    assert publish(publisher, alice_request, "k")["Idempotent-Replayed"] == "true"
    assert alice_request.events.count() == 2


def test_request_creation_is_idempotent(publisher, alice):
    """Creating a request with a repeated key answers the same request, created once."""
    body = {"title": "Export", "user": "alice"}
    first = publisher.post(reverse("api:request-list"), body, format="json", HTTP_IDEMPOTENCY_KEY="c")
    retry = publisher.post(reverse("api:request-list"), body, format="json", HTTP_IDEMPOTENCY_KEY="c")
    assert first.status_code == retry.status_code == 201
    assert first.json() == retry.json()
    assert TrackedRequest.objects.count() == 1


def test_broadcast_is_idempotent(broadcaster):
    """Announcing with a repeated key stores one announcement."""
    for _ in range(2):
        broadcaster.post(reverse("api:broadcast"), {"title": "Hi"}, format="json", HTTP_IDEMPOTENCY_KEY="b")
    assert Event.objects.filter(kind="announcement").count() == 1


@pytest.mark.parametrize("key", ["", "x" * 201, "tab\there"])
def test_unusable_key_is_400_naming_the_header(publisher, alice_request, key):
    """An empty, over-long or unprintable key answers 400 naming Idempotency-Key."""
    response = publish(publisher, alice_request, key)
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Idempotency-Key: ")


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_store_one_request(make_service, make_user, token_client):
    """Two simultaneous creations with one key, on two connections: one request, the same answer twice."""
    make_user("alice")
    token = make_service("racer", publish=True)[1]
    start = threading.Barrier(2)
    answers = []

    def create():
        start.wait()
        try:
            response = token_client(token).post(
                reverse("api:request-list"), {"title": "Once", "user": "alice"}, format="json", HTTP_IDEMPOTENCY_KEY="k"
            )
            answers.append((response.status_code, response.json(), response.has_header("Idempotent-Replayed")))
        finally:
            connection.close()

    threads = [threading.Thread(target=create) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 2
    assert answers[0][:2] == answers[1][:2]
    assert sorted(replayed for *_, replayed in answers) == [False, True]
    assert TrackedRequest.objects.count() == 1


def test_same_key_with_another_body_is_422_and_changes_nothing(publisher, alice_request):
    """`failed` after `processing` under one key is not a retry: 422, no event, the request unchanged."""
    assert publish(publisher, alice_request, "job-7").status_code == 202
    response = publish(publisher, alice_request, "job-7", status="failed")
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert "another body" in response.json()["detail"]
    assert alice_request.events.count() == 2
    alice_request.refresh_from_db()
    assert alice_request.status == "processing"
    assert IdempotencyRecord.objects.get().status_code == 202


def test_body_compared_as_parsed_json_not_as_text(publisher, alice_request):
    """Whitespace and key order do not make another body: the retry replays."""
    url = reverse("api:event-publish")
    first = f'{{"request": "{alice_request.id}", "status": "processing", "data": {{"a": 1, "b": 2}}}}'
    again = f'{{ "data":{{"b":2,"a":1}},"status":"processing","request":"{alice_request.id}" }}'
    for text in (first, again):
        response = publisher.post(url, text, content_type="application/json", HTTP_IDEMPOTENCY_KEY="ws")
        assert response.status_code == 202
    assert response["Idempotent-Replayed"] == "true"
    assert alice_request.events.count() == 2


def test_same_key_on_another_endpoint_is_422(publisher, alice_request):
    """A key used on events/ answers 422 on events/batch/ and on requests/; nothing is created."""
    assert publish(publisher, alice_request, "shared").status_code == 202
    batch = {"events": [{"request": str(alice_request.id), "status": "processing"}]}
    on_batch = publisher.post(reverse("api:event-publish-batch"), batch, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    create = {"title": "Other", "user": "alice"}
    on_requests = publisher.post(reverse("api:request-list"), create, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    for response in (on_batch, on_requests):
        assert response.status_code == 422
        assert "/api/v1/events/" in response.json()["detail"]
    assert alice_request.events.count() == 2
    assert TrackedRequest.objects.count() == 1


def age_record(hours: float) -> None:
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=hours))


def test_key_is_honoured_for_at_least_a_day(publisher, alice_request):
    """A day and more later (within NOTIFY_IDEMPOTENCY_DAYS, 2 by default) the retry still replays."""
    publish(publisher, alice_request, "old")
    age_record(47)
    retry = publish(publisher, alice_request, "old")
    assert retry["Idempotent-Replayed"] == "true"
    assert publish(publisher, alice_request, "old", status="failed").status_code == 422
    assert alice_request.events.count() == 2


def test_expired_key_is_ignored_and_replaced(publisher, alice_request, settings):
    """Past NOTIFY_IDEMPOTENCY_DAYS a key's record no longer answers: the call acts and takes the key anew."""
    settings.NOTIFY_IDEMPOTENCY_DAYS = 1
    publish(publisher, alice_request, "old")
    age_record(25)
    fresh = publish(publisher, alice_request, "old", status="failed")
    assert fresh.status_code == 202
    assert not fresh.has_header("Idempotent-Replayed")
    record = IdempotencyRecord.objects.get()
    assert record.body["request"]["status"] == "failed"
    assert publish(publisher, alice_request, "old", status="failed")["Idempotent-Replayed"] == "true"
    assert alice_request.events.count() == 3


def concurrently(*calls):
    """Run each call in its own thread (own database connection), released together; return their answers."""
    start = threading.Barrier(len(calls))
    answers = [None] * len(calls)

    def run(index, call):
        start.wait()
        try:
            answers[index] = call()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=item) for item in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return answers


@pytest.fixture
def race_setup(make_service, make_user):
    """Alice's queued request and a publishing token, committed (for tests with transaction=True)."""
    from notifications.store import actions

    tracked, _ = actions.do_create_request(make_user("alice"), "Race")
    return tracked, make_service("racer", publish=True)[1]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("status", ["processing", "succeeded"])
def test_concurrent_publishes_with_one_key_store_one_event(race_setup, token_client, status):
    """Two simultaneous identical publishes, on two connections: one event, both answered 202 with it.

    `succeeded` also covers the loser's action finding the request already finished by the winner.
    """
    tracked, token = race_setup
    answers = concurrently(*[lambda: publish(token_client(token), tracked, "same", status)] * 2)
    assert [answer.status_code for answer in answers] == [202, 202]
    assert answers[0].json() == answers[1].json()
    assert sorted(answer.has_header("Idempotent-Replayed") for answer in answers) == [False, True]
    assert tracked.events.count() == 2
    assert IdempotencyRecord.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_publishes_with_one_key_and_two_bodies(race_setup, token_client):
    """Two simultaneous publishes of different bodies under one key: one is stored, the other answers 422."""
    tracked, token = race_setup
    answers = concurrently(
        lambda: publish(token_client(token), tracked, "same", "processing"),
        lambda: publish(token_client(token), tracked, "same", "failed"),
    )
    assert sorted(answer.status_code for answer in answers) == [202, 422]
    assert tracked.events.count() == 2
    [stored] = [answer.json() for answer in answers if answer.status_code == 202]
    tracked.refresh_from_db()
    assert tracked.status == stored["request"]["status"]
