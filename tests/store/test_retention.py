"""Retention: old events go, and a resume from before them is told so."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from notifications.models import Event, EventDelivery, ReadMark, UnseenEscalation
from notifications.protocol.cursors import Cursor
from notifications.store import actions, ledger, retention, streams
from notifications.store.retention import prune_expired_events


@pytest.fixture
def ada(db):
    return get_user_model().objects.create_user("ada", password="pw")


def age(events, days: int) -> None:
    Event.objects.filter(pk__in=[e.pk for e in events]).update(
        created_at=timezone.now() - timedelta(days=days), fanned_out_at=timezone.now()
    )


def test_events_past_the_history_window_are_deleted_and_resume_from_before_is_reset(ada, settings):
    """After pruning, a cursor from before the window is reported as pruned; a newer one is not."""
    settings.NOTIFY_HISTORY_DAYS = 7
    tracked, first = actions.do_create_request(ada, "Old")
    old_announcement = actions.do_broadcast("Old news")
    age([first, old_announcement], days=8)
    recent = actions.do_publish_status(tracked.id, "processing", 50)

    assert prune_expired_events() == 2
    assert list(Event.objects.values_list("id", flat=True)) == [recent.id]
    assert streams.stream_heads(ada.pk).is_pruned_past(Cursor(0, 0))
    assert not streams.stream_heads(ada.pk).is_pruned_past(Cursor(1, 1))


def test_pending_events_are_never_pruned(ada, settings):
    """An event no instance has fanned out yet stays, however old."""
    _, event = actions.do_create_request(ada, "Stuck")
    Event.objects.filter(pk=event.pk).update(created_at=timezone.now() - timedelta(days=30))
    assert prune_expired_events() == 0


def test_events_the_outbox_gave_up_on_are_pruned_with_the_history(ada):
    """A failed event is never sent again, so it ages out like a delivered one instead of staying forever."""
    _, event = actions.do_create_request(ada, "Poison")
    Event.objects.filter(pk=event.pk).update(
        created_at=timezone.now() - timedelta(days=30), fanout_failed_at=timezone.now()
    )
    assert prune_expired_events() == 1


def test_the_command_reports_what_it_deleted(ada, capsys):
    """`manage.py prune_events` prints the number of deleted events."""
    _, event = actions.do_create_request(ada, "Old")
    age([event], days=30)
    call_command("prune_events")
    assert "Deleted 1 events" in capsys.readouterr().out


def test_prune_also_drops_expired_tickets_old_idempotency_answers_and_dead_instances_rows(ada, settings):
    """One scheduled command clears every table that would otherwise only grow; fresh rows stay."""
    from notifications.models import Connection, IdempotencyRecord, WebSocketTicket
    from notifications.store.retention import prune_all

    settings.NOTIFY_IDEMPOTENCY_DAYS = 2
    settings.NOTIFY_PRESENCE_TIMEOUT_SECS = 60
    now = timezone.now()
    long_ago = now - timedelta(days=3)
    WebSocketTicket.objects.create(ticket_hash="old", user=ada, expires_at=long_ago)
    WebSocketTicket.objects.create(ticket_hash="new", user=ada, expires_at=now + timedelta(seconds=60))
    old = IdempotencyRecord.objects.create(principal="svc", key="old", status_code=202, body={})
    IdempotencyRecord.objects.filter(pk=old.pk).update(created_at=long_ago)
    IdempotencyRecord.objects.create(principal="svc", key="new", status_code=202, body={})
    for cid, seen in (("dead", long_ago), ("live", now)):
        Connection.objects.create(
            connection_id=cid,
            user=ada,
            instance="A",
            process="p",
            connected_at=seen,
            last_activity=seen,
            last_seen=seen,
        )
    assert prune_all() == {
        "events": 0,
        "tickets": 1,
        "idempotency records": 1,
        "stale presence rows": 1,
        "stale MQTT sessions": 0,
        "connection events": 0,
        "delivery ledger rows": 0,
    }
    assert list(WebSocketTicket.objects.values_list("ticket_hash", flat=True)) == ["new"]
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]
    assert list(Connection.objects.values_list("connection_id", flat=True)) == ["live"]


def test_published_connection_events_past_the_history_go_with_their_finished_webhook_deliveries(db, settings):
    """Old published events whose webhooks delivered go; an unpublished one, or one still being retried, stays."""
    from notifications.models import ConnectionEvent, WebhookDelivery, WebhookEndpoint
    from notifications.store.retention import prune_connection_events

    settings.NOTIFY_HISTORY_DAYS = 7
    old, now = timezone.now() - timedelta(days=8), timezone.now()
    endpoint = WebhookEndpoint.objects.create(url="http://127.0.0.1:9/hook", secret="s" * 32)

    def event(name, published, delivered):
        row = ConnectionEvent.objects.create(
            type="user.connected", connection_id=name, instance="a", body="{}", created_at=old, published_at=published
        )
        WebhookDelivery.objects.create(endpoint=endpoint, event=row, delivered_at=delivered)
        return row

    event("done", now, now)
    kept = [event("unpublished", None, now).connection_id, event("retrying", now, None).connection_id]
    assert prune_connection_events() == 1
    assert sorted(ConnectionEvent.objects.values_list("connection_id", flat=True)) == sorted(kept)


def test_the_delivery_ledger_past_the_history_is_pruned(ada, settings):
    """Ledger rows and read-marker moves older than the window go; newer ones stay."""
    now = timezone.now()
    settings.NOTIFY_HISTORY_DAYS = 7
    old = now - timedelta(days=8)
    ledger.add_deliveries([(ada.pk, 1, old, 1, 1), (ada.pk, 2, now, 1, 1)])
    ReadMark.objects.bulk_create([ReadMark(user=ada, position=1, at=old), ReadMark(user=ada, position=2, at=now)])
    assert retention.prune_all()["delivery ledger rows"] == 2
    assert list(EventDelivery.objects.values_list("seq", flat=True)) == [2]
    assert list(ReadMark.objects.values_list("position", flat=True)) == [2]


def test_an_old_finished_request_goes_with_its_escalation_in_batches(ada, settings):
    """Its events go over several batches, and the escalation row that points at its terminal event goes too."""
    settings.NOTIFY_HISTORY_DAYS = 7
    tracked, queued = actions.do_create_request(ada, "Old export")
    steps = [actions.do_publish_status(tracked.id, "processing", p) for p in (10, 20, 30)]
    done = actions.do_publish_status(tracked.id, "succeeded")
    assert UnseenEscalation.objects.filter(event=done).exists()
    age([queued, *steps, done], days=8)

    assert prune_expired_events(batch=2) == 5
    assert not Event.objects.exists()
    assert not UnseenEscalation.objects.exists()
    assert streams.stream_heads(ada.pk).is_pruned_past(Cursor(4, 0))


def test_a_pending_request_unseen_webhook_does_not_keep_old_connection_events(ada, settings):
    """A request.unseen delivery still being retried has no connection event; old published ones still go."""
    from notifications.models import ConnectionEvent, ServiceClient, UnseenEscalation, WebhookDelivery
    from notifications.store import escalations, webhooks
    from notifications.store.retention import prune_connection_events

    settings.NOTIFY_HISTORY_DAYS = 7
    billing = ServiceClient.objects.create(name="billing", token_hash="h" * 64, can_publish=True)
    webhooks.save_endpoint("http://127.0.0.1:9/billing", "s", [], billing)
    tracked, _ = actions.do_create_request(ada, "Payroll", publisher=billing)
    actions.do_publish_status(tracked.pk, "succeeded")
    UnseenEscalation.objects.update(due_at=timezone.now() - timedelta(seconds=1))
    escalations.settle(escalations.claim_due()[0], [], "no e-mail address")
    ConnectionEvent.objects.create(
        type="user.connected",
        connection_id="old",
        instance="a",
        body="{}",
        created_at=timezone.now() - timedelta(days=8),
    )
    ConnectionEvent.objects.update(published_at=timezone.now())
    assert prune_connection_events() == 1
    assert WebhookDelivery.objects.filter(escalation__isnull=False, delivered_at__isnull=True).count() == 1
