"""The one namespace of idempotency keys (REST's Idempotency-Key, AMQP's message_id): scope, lookup, races."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction

from notifications.errors import IdempotencyKeyReused
from notifications.models import Event, IdempotencyRecord, ServiceClient
from notifications.store import idempotency
from notifications.store.idempotency import Scope

pytestmark = pytest.mark.django_db


@pytest.fixture
def service() -> ServiceClient:
    client = ServiceClient(name="racer", can_publish=True)
    client.set_new_token()
    client.save()
    return client


def scope_of(service, key="race", body=None) -> Scope:
    return Scope(idempotency.get_principal(service), key, "/api/v1/events/", idempotency.get_request_hash(body or {}))


def test_losing_a_concurrent_race_answers_the_winners_answer(service, monkeypatch):
    """When a concurrent call stored the key after this one looked, this one's action rolls back and it replays."""
    scope = scope_of(service)
    IdempotencyRecord.objects.create(principal=scope.principal, key="race", status_code=202, body={"winner": True})
    lookups = iter([None])  # the first look happens before the winner committed
    real_lookup = idempotency.get_stored_answer
    monkeypatch.setattr(idempotency, "get_stored_answer", lambda *a: next(lookups, None) or real_lookup(*a))

    def perform():
        Event.objects.create(kind="announcement", seq=999, payload={})
        return 202, {"winner": False}

    assert idempotency.act_once(scope, perform) == ((202, {"winner": True}), True)
    assert not Event.objects.filter(seq=999).exists()


def test_first_answer_is_stored_and_replayed(service):
    """The first call acts and stores its answer; the same scope again replays it without acting."""
    calls = []

    def perform():
        calls.append(1)
        return 202, {"n": len(calls)}

    assert idempotency.act_once(scope_of(service), perform) == ((202, {"n": 1}), False)
    assert idempotency.act_once(scope_of(service), perform) == ((202, {"n": 1}), True)
    assert len(calls) == 1


def test_another_body_under_the_key_is_refused(service):
    """The key with another body raises IdempotencyKeyReused (422) and does not act."""
    idempotency.act_once(scope_of(service, body={"a": 1}), lambda: (202, {}))
    with pytest.raises(IdempotencyKeyReused, match="another body"):
        idempotency.act_once(scope_of(service, body={"a": 2}), lambda: pytest.fail("acted"))


def test_live_records_are_found_for_many_keys_in_one_query(service, django_assert_num_queries):
    """A batch looks its keys up at once (the ingress stores hundreds of messages per transaction)."""
    scopes = [scope_of(service, key=f"k{n}") for n in range(50)]
    idempotency.perform_record([(scope, (202, {"n": n})) for n, scope in enumerate(scopes[:10])])
    with django_assert_num_queries(1):
        records = idempotency.get_live_records(scopes)
    assert sorted(key for _, key in records) == sorted(f"k{n}" for n in range(10))


@pytest.mark.parametrize("key", ["", "a" * 201, "tab\there"])
def test_unusable_keys(key):
    """Keys are 1 to 200 printable characters."""
    assert not idempotency.is_usable_key(key)


@pytest.mark.django_db
def test_a_batch_of_records_with_a_key_taken_meanwhile_raises_integrity_error_and_stores_none():
    """The batch path (COPY on PostgreSQL) refuses as the plain INSERT does, so the caller falls back to one by one."""
    scopes = [Scope("service:1", f"key-{n}", "/api/v1/events/", "h") for n in range(25)]
    idempotency.perform_record([(scopes[7], (202, {"first": True}))])
    with pytest.raises(IntegrityError), transaction.atomic():
        idempotency.perform_record([(scope, (202, {"n": n})) for n, scope in enumerate(scopes)])
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["key-7"]
    idempotency.perform_record([(scope, (202, {"n": n})) for n, scope in enumerate(scopes) if n != 7])
    stored = {record.key: record.body for record in IdempotencyRecord.objects.all()}
    assert len(stored) == 25 and stored["key-3"] == {"n": 3} and stored["key-7"] == {"first": True}


def test_taking_keys_answers_live_records_and_forgets_expired_ones_in_one_query(
    service, settings, django_assert_num_queries
):
    """A batch's key lookup: live records come back (without their answers), expired ones are deleted, fresh none."""
    settings.NOTIFY_IDEMPOTENCY_DAYS = 2
    live, expired, fresh = (scope_of(service, key=k) for k in ("live", "expired", "fresh"))
    idempotency.perform_record([(live, (202, {"live": True})), (expired, (202, {"old": True}))])
    IdempotencyRecord.objects.filter(key="expired").update(created_at=idempotency.get_expiry_cutoff() - timedelta(1))
    with django_assert_num_queries(1):
        assert set(idempotency.perform_take_keys([live, fresh])) == {(live.principal, "live")}
    with django_assert_num_queries(2):  # the lookup, then the delete of what expired
        assert idempotency.perform_take_keys([live, expired, fresh]).keys() == {(live.principal, "live")}
    assert sorted(IdempotencyRecord.objects.values_list("key", flat=True)) == ["live"]
