"""The outbox: claiming pending events, and giving up on one that cannot be sent instead of re-sending it forever."""

import logging
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import DatabaseError
from django.urls import reverse
from prometheus_client import REGISTRY

from notifications.models import Event
from notifications.store import actions, outbox
from tests import poison

pytestmark = pytest.mark.django_db

NOW = timedelta(0)


def failed_count() -> float:
    return REGISTRY.get_sample_value("notify_events_failed_total") or 0


def force_payload(event: Event, text: str) -> None:
    poison.force_payload(event.position, text)


@pytest.fixture
def events():
    """Three pending events of one user, oldest first."""
    user = get_user_model().objects.create_user("ada")
    created = [actions.do_create_request(user, f"Report {n}")[1] for n in range(3)]
    return list(Event.objects.filter(pk__in=[event.pk for event in created]).order_by("position"))


def sweep_once() -> list[Event]:
    """What one sweep would send: claimed, less what cannot be sent."""
    return outbox.drop_unsendable(outbox.claim_pending(NOW))


def test_a_poison_event_is_given_up_on_and_the_others_are_still_sent(events, caplog):
    """A payload no encoder takes is marked failed at once, counted, logged once by id; its neighbours go on."""
    good_first, bad, good_last = events
    force_payload(bad, poison.poison_text())
    before = failed_count()
    with caplog.at_level(logging.ERROR, logger="notifications.store.outbox"):
        sendable = sweep_once()
    assert [event.position for event in sendable] == [good_first.position, good_last.position]
    stored = Event.objects.defer("payload").get(pk=bad.pk)
    assert stored.delivery_state == "failed"
    assert stored.fanout_failed_at is not None and "cannot be" in stored.fanout_error
    assert failed_count() == before + 1
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert str(bad.id) in record.getMessage()
    assert "\ud800" not in record.getMessage() and "1e5000" not in record.getMessage()


def test_a_payload_that_cannot_even_be_loaded_does_not_fail_the_whole_claim(events):
    """Nesting deeper than Python reads back fails that row alone; the rest of the batch is claimed."""
    force_payload(events[0], poison.TOO_DEEP)
    claimed = outbox.claim_pending(NOW)
    assert [event.position for event in claimed] == [event.position for event in events[1:]]
    error = Event.objects.filter(pk=events[0].pk).values_list("fanout_error", flat=True).get()
    assert error.startswith("payload cannot be loaded")


def test_an_event_given_up_on_is_not_claimed_again(events):
    """Once failed, a sweep never picks the event up again, and it no longer counts as pending."""
    force_payload(events[1], poison.poison_text())
    sweep_once()
    Event.objects.update(fanout_claimed_until=None)  # every lease over
    assert events[1].position not in [event.position for event in outbox.claim_pending(NOW)]
    assert outbox.pending_count() == 2


def test_failed_sends_give_up_after_the_configured_number_of_attempts(events, settings):
    """Each failed send counts one attempt; at NOTIFY_OUTBOX_MAX_ATTEMPTS the event is marked failed."""
    settings.NOTIFY_OUTBOX_MAX_ATTEMPTS = 3
    before = failed_count()
    for attempt in range(1, 3):
        assert outbox.record_failed_attempts([events[0].position], "the channel layer did not take it") == 0
        assert Event.objects.get(pk=events[0].pk).delivery_state == "stored", attempt
    assert outbox.record_failed_attempts([events[0].position], "the channel layer did not take it") == 1
    stored = Event.objects.get(pk=events[0].pk)
    assert (stored.delivery_state, stored.fanout_attempts) == ("failed", 3)
    assert stored.fanout_error == "the channel layer did not take it"
    assert failed_count() == before + 1
    assert Event.objects.get(pk=events[1].pk).delivery_state == "stored"


def test_giving_up_twice_counts_and_logs_once(events, caplog):
    """Two instances giving up on one event (or one, twice) leave one failure in the metric and the log."""
    before = failed_count()
    with caplog.at_level(logging.ERROR, logger="notifications.store.outbox"):
        assert outbox.give_up([events[0].position], "first") == 1
        assert outbox.give_up([events[0].position], "second") == 0
    assert failed_count() == before + 1
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1
    assert Event.objects.get(pk=events[0].pk).fanout_error == "first"


def test_an_event_already_fanned_out_is_never_marked_failed(events):
    """A late failure report for an event that reached the layer (another instance's send) changes nothing."""
    outbox.mark_fanned_out([events[0].position])
    outbox.record_failed_attempts([events[0].position], "late", final=True)
    assert Event.objects.get(pk=events[0].pk).delivery_state == "fanned out"


def test_the_admin_lists_an_event_given_up_on_under_failed_with_its_error(events, admin_client):
    """An operator filters events by `failed` and sees the poison one with why, even when its payload won't load."""
    force_payload(events[1], poison.TOO_DEEP)
    outbox.claim_pending(NOW)
    url = reverse("admin:notifications_event_changelist")
    response = admin_client.get(url + "?delivery=failed")
    assert response.status_code == 200
    assert list(response.context["cl"].result_list.values_list("position", flat=True)) == [events[1].position]
    assert "payload cannot be loaded" in response.content.decode()
    stored = admin_client.get(url + "?delivery=stored")
    assert events[1].position not in stored.context["cl"].result_list.values_list("position", flat=True)


@pytest.mark.parametrize("text", [poison.TOO_DEEP, poison.UNLOADABLE_NUMBER, poison.UNENCODABLE["sqlite"]])
def test_the_admin_page_of_a_poison_event_shows_why_instead_of_failing(events, admin_client, text):
    """An operator opens the event the outbox gave up on: its fields and error show; the payload says it can't."""
    try:
        force_payload(events[1], text)
    except DatabaseError:
        pytest.skip("this database refuses that payload")
    sweep_once()
    page = admin_client.get(reverse("admin:notifications_event_change", args=[events[1].position]))
    assert page.status_code == 200
    assert "payload cannot be" in page.content.decode()
    assert "(cannot be shown" in page.content.decode() or "\\ud800" in page.content.decode()
