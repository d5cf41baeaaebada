"""`GET /api/v1/requests/{id}/delivery/`: the delivery ledger, and who may read it."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from notifications.models import EventDelivery, TrackedRequest, UnseenEscalation
from notifications.store import actions, ledger

pytestmark = pytest.mark.django_db

FIELDS = {
    "id",
    "status",
    "progress",
    "stored_at",
    "fanned_out_at",
    "first_delivered_at",
    "connections",
    "protocols",
    "read_at",
    "escalated_at",
    "escalated_via",
}


def url(request_id) -> str:
    return reverse("api:request-delivery", args=[request_id])


def _publish(publisher, owner: str) -> str:
    answer = publisher.post(reverse("api:request-list"), {"title": "Payroll", "user": owner}, format="json")
    assert answer.status_code == 201, answer.content
    request_id = answer.json()["id"]
    for status, progress in (("processing", 40), ("succeeded", None)):
        body = {"request": request_id, "status": status, **({"progress": progress} if progress else {})}
        assert publisher.post(reverse("api:event-publish"), body, format="json").status_code == 202
    return request_id


def test_each_event_of_the_request_in_order_with_nothing_happened_yet(publisher, alice, signed_in):
    """Stored, not delivered, not read: nulls, 0 connections, no protocols."""
    request_id = _publish(publisher, "alice")
    answer = signed_in(alice).get(url(request_id))
    assert answer.status_code == 200
    body = answer.json()
    assert body["request"] == request_id
    assert [(e["status"], e["progress"]) for e in body["events"]] == [
        ("queued", 0),
        ("processing", 40),
        ("succeeded", 100),
    ]
    for entry in body["events"]:
        assert set(entry) == FIELDS
        assert entry["stored_at"] is not None
        assert (entry["first_delivered_at"], entry["connections"], entry["protocols"]) == (None, 0, [])
        assert (entry["read_at"], entry["escalated_at"], entry["escalated_via"]) == (None, None, None)


def test_deliveries_reads_and_escalation_show_on_their_events(publisher, alice, signed_in):
    """Counts add up across flushes, the first delivery time is the earliest, reads pass events in order."""
    request_id = _publish(publisher, "alice")
    events = list(TrackedRequest.objects.get(pk=request_id).events.order_by("position"))
    early, late = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    stomp, mqtt = ledger.PROTOCOL_BITS["stomp"], ledger.PROTOCOL_BITS["mqtt"]
    ledger.add_deliveries([(alice.pk, events[1].seq, late, 2, stomp)])
    ledger.add_deliveries([(alice.pk, events[1].seq, early, 1, mqtt)])
    actions.do_mark_read(alice, events[1].id)
    escalation = UnseenEscalation.objects.get(request_id=request_id)
    UnseenEscalation.objects.filter(pk=escalation.pk).update(escalated_at=timezone.now(), escalated_via=["email"])

    entries = signed_in(alice).get(url(request_id)).json()["events"]

    assert entries[1]["connections"] == 3 and sorted(entries[1]["protocols"]) == ["mqtt", "stomp"]
    assert entries[1]["first_delivered_at"].startswith("2026-01-01")
    assert entries[0]["read_at"] is not None and entries[1]["read_at"] is not None and entries[2]["read_at"] is None
    assert entries[2]["escalated_via"] == ["email"] and entries[2]["escalated_at"] is not None
    assert entries[1]["escalated_at"] is None


def test_read_at_is_the_first_move_of_the_marker_that_passed_the_event(alice):
    """A later move past it does not change when it was read."""
    tracked, first = actions.do_create_request(alice, "Import")
    second = actions.do_publish_status(tracked.id, "processing", 10)
    actions.do_mark_read(alice, first.id)
    read_first = ledger.request_ledger(tracked)["events"][0]["read_at"]
    actions.do_mark_read(alice, second.id)
    entries = ledger.request_ledger(tracked)["events"]
    assert entries[0]["read_at"] == read_first
    assert entries[1]["read_at"] >= read_first


def test_staff_read_any_ledger_and_another_user_gets_404(publisher, alice, bob, staff, signed_in):
    request_id = _publish(publisher, "alice")
    assert signed_in(staff).get(url(request_id)).status_code == 200
    assert signed_in(bob).get(url(request_id)).status_code == 404


def test_a_service_that_did_not_publish_the_request_gets_403(publisher, make_service, token_client, alice):
    """The creating service reads it; another service with the publish permission is refused."""
    request_id = _publish(publisher, "alice")
    assert publisher.get(url(request_id)).status_code == 200
    other = token_client(make_service("other", publish=True)[1])
    answer = other.get(url(request_id))
    assert answer.status_code == 403 and "created or reported" in answer.json()["detail"]


def test_a_service_that_only_reported_a_status_may_read_it(publisher, make_service, token_client, alice, signed_in):
    """A request created on the page and reported by a backend service: that service reads its ledger."""
    created = signed_in(alice).post(reverse("api:request-list"), {"title": "Upload"}, format="json").json()
    worker = token_client(make_service("worker", publish=True)[1])
    assert worker.get(url(created["id"])).status_code == 403
    body = {"request": created["id"], "status": "processing", "progress": 5}
    assert worker.post(reverse("api:event-publish"), body, format="json").status_code == 202
    assert worker.get(url(created["id"])).status_code == 200


def test_an_unknown_request_is_404(signed_in, alice):
    assert signed_in(alice).get(url("00000000-0000-0000-0000-000000000000")).status_code == 404


def test_ledger_rows_of_old_deliveries_are_kept_apart_per_stream(alice, bob):
    """The same seq in two users' streams (and announcements) are three rows."""
    now = timezone.now() - timedelta(seconds=1)
    ledger.add_deliveries([(alice.pk, 1, now, 1, 1), (bob.pk, 1, now, 2, 1), (0, 1, now, 3, 1)])
    counts = sorted(EventDelivery.objects.values_list("connections", flat=True))
    assert counts == [1, 2, 3]
