"""The schedule of unseen finished requests: written with the terminal event, cancelled by reading, claimed once."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from notifications.models import UnseenEscalation
from notifications.store import actions, escalations


@pytest.fixture
def ada(db):
    return get_user_model().objects.create_user("ada", email="ada@example.com", password="pw")


def _finish(user, title: str = "Report", status: str = "succeeded"):
    tracked, _ = actions.do_create_request(user, title)
    actions.do_publish_status(tracked.id, "processing", 50)
    return tracked, actions.do_publish_status(tracked.id, status)


def _make_due() -> None:
    UnseenEscalation.objects.update(due_at=timezone.now() - timedelta(seconds=1))


def test_a_terminal_event_schedules_one_escalation_after_the_window(ada, settings):
    """Only the terminal event schedules; it is due NOTIFY_UNSEEN_AFTER_SECS after it was stored."""
    settings.NOTIFY_UNSEEN_AFTER_SECS = 600
    before = timezone.now()
    tracked, event = _finish(ada)
    [item] = UnseenEscalation.objects.all()
    assert (item.request_id, item.event_id, item.user_id) == (tracked.id, event.position, ada.pk)
    assert before + timedelta(seconds=600) <= item.due_at <= timezone.now() + timedelta(seconds=600)


def test_nothing_is_scheduled_when_escalation_is_off(ada, settings):
    settings.NOTIFY_UNSEEN_AFTER_SECS = 0
    _finish(ada)
    assert not UnseenEscalation.objects.exists()


def test_reading_the_terminal_event_in_time_cancels_it(ada):
    """Marking read up to (or past) the terminal event cancels; nothing is claimed later."""
    _, event = _finish(ada)
    actions.do_mark_read(ada, event.id)
    _make_due()
    assert escalations.claim_due() == []
    assert UnseenEscalation.objects.get().cancelled_at is not None


def test_reading_an_earlier_event_does_not_cancel(ada):
    tracked, _ = actions.do_create_request(ada, "Import")
    first = actions.do_publish_status(tracked.id, "processing", 10)
    actions.do_publish_status(tracked.id, "failed")
    actions.do_mark_read(ada, first.id)
    _make_due()
    assert [item.request_id for item in escalations.claim_due()] == [tracked.id]


def test_a_due_escalation_is_claimed_by_one_claimer_until_its_lease_ends(ada):
    """A second claim gets nothing while the first holds the lease; settling with a stale claim changes nothing."""
    _finish(ada)
    assert escalations.claim_due() == []  # not due yet
    _make_due()
    [first] = escalations.claim_due()
    assert escalations.claim_due() == []
    UnseenEscalation.objects.update(claimed_until=timezone.now() - timedelta(seconds=1))
    [second] = escalations.claim_due()
    assert escalations.settle(first, ["email"], "e-mail sent") is None
    assert escalations.settle(second, ["email"], "e-mail sent") == ["email"]
    item = UnseenEscalation.objects.get()
    assert item.escalated_via == ["email"] and item.escalated_at is not None
    UnseenEscalation.objects.update(claimed_until=None)
    assert escalations.claim_due() == []  # settled: never again


def test_read_between_due_and_claim_cancels_instead_of_claiming(ada):
    """The read marker is checked again at claim time (a tab that read it just before)."""
    _, event = _finish(ada)
    _make_due()
    actions.do_mark_read(ada, event.id)
    UnseenEscalation.objects.update(cancelled_at=None)  # as if the read raced the claim's first query
    assert escalations.claim_due() == []
    assert UnseenEscalation.objects.get().cancelled_at is not None


def test_the_e_mail_preference_defaults_to_on_and_can_be_turned_off(ada):
    assert escalations.wants_email(ada.pk) is True
    escalations.set_email_preference(ada.pk, False)
    assert escalations.wants_email(ada.pk) is False
    escalations.set_email_preference(ada.pk, True)
    assert escalations.wants_email(ada.pk) is True
