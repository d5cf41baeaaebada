"""The delivery ledger's record of which services published a request (notifications/store/ledger.py)."""

import pytest
from django.contrib.auth import get_user_model

from notifications.models import RequestPublisher, ServiceClient, TrackedRequest
from notifications.store import ledger

pytestmark = pytest.mark.django_db


@pytest.fixture
def requests():
    owner = get_user_model().objects.create_user("ada", password=None)
    return [TrackedRequest.objects.create(owner=owner, title=f"R{i}") for i in range(3)]


def service(name: str) -> ServiceClient:
    client = ServiceClient(name=name)
    client.set_new_token()
    client.save()
    return client


def pairs() -> set:
    return set(RequestPublisher.objects.values_list("request_id", "service__name"))


def test_each_pair_is_recorded_once_however_often_it_is_reported(requests):
    """Reporting known and new requests again adds only the new pairs; other services' pairs are their own."""
    billing, mail = service("billing"), service("mail")
    ledger.record_publisher({requests[0].pk, requests[1].pk}, billing)
    ledger.record_publisher({requests[0].pk, requests[1].pk, requests[2].pk}, billing)
    ledger.record_publisher({requests[1].pk}, mail)
    ledger.record_publisher(set(), mail)
    expected = {(tracked.pk, "billing") for tracked in requests} | {(requests[1].pk, "mail")}
    assert pairs() == expected
    assert ledger.published_by(requests[2], billing) and not ledger.published_by(requests[2], mail)


def test_known_pairs_are_not_written_again(requests):
    """A pair already recorded keeps its row (the same id): nothing is inserted for it."""
    billing = service("billing")
    ledger.record_publisher({requests[0].pk}, billing)
    first = RequestPublisher.objects.get().pk
    ledger.record_publisher({requests[0].pk, requests[1].pk}, billing)
    assert RequestPublisher.objects.get(request=requests[0]).pk == first
    assert RequestPublisher.objects.count() == 2


def test_ids_may_be_given_as_strings(requests):
    """Request ids as their strings (as a body spells them) record the same pairs."""
    billing = service("billing")
    ledger.record_publisher({str(requests[0].pk)}, billing)
    ledger.record_publisher({requests[0].pk}, billing)
    assert pairs() == {(requests[0].pk, "billing")}
