"""Retention: delete events older than the history window, and remember where history starts.

Each stream's `pruned_through_seq` records the highest seq that may be gone,
so a resume from an older cursor gets `reset` instead of a silent hole.
`prune_all` also drops what only ever grows otherwise: expired tickets,
idempotency answers past their retry window, and presence rows of instances
that died. Every step is one or a few short transactions, safe while serving.
"""

from datetime import timedelta

from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from notifications import conf
from notifications.models import (
    ConnectionEvent,
    Event,
    EventDelivery,
    IdempotencyRecord,
    ReadMark,
    StreamHead,
    WebhookDelivery,
)
from notifications.store import mqtt_sessions, presence, tickets

PRUNE_BATCH = 5000


def prune_expired_events(now=None, batch: int = PRUNE_BATCH) -> int:
    """Delete events older than NOTIFY_HISTORY_DAYS in small transactions; return how many went.

    Safe while serving and when run on a schedule: each batch moves its
    streams' history start in the same transaction that deletes the rows.
    Events still waiting in the outbox are kept; those it gave up on go too.
    """
    cutoff = (now or timezone.now()) - timedelta(days=conf.history_days())
    deleted = 0
    while True:
        with transaction.atomic():
            positions = list(
                Event.objects.filter(created_at__lt=cutoff)
                .filter(Q(fanned_out_at__isnull=False) | Q(fanout_failed_at__isnull=False))
                .order_by("position")
                .values_list("position", flat=True)[:batch]
            )
            if not positions:
                return deleted
            doomed = Event.objects.filter(position__in=positions)
            for row in doomed.values("user_id").annotate(last=Max("seq")):
                StreamHead.objects.filter(user_id=row["user_id"], pruned_through_seq__lt=row["last"]).update(
                    pruned_through_seq=row["last"]
                )
            deleted += doomed.delete()[0]


def prune_idempotency_records(now=None) -> int:
    """Delete Idempotency-Key answers older than NOTIFY_IDEMPOTENCY_DAYS; a retry after that acts again."""
    cutoff = (now or timezone.now()) - timedelta(days=conf.idempotency_days())
    return IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()[0]


def prune_connection_events(now=None) -> int:
    """Delete connection events older than NOTIFY_HISTORY_DAYS that were published and whose webhooks finished.

    Their deliveries and attempts go with them (the admin's history of a webhook is as long as the events').
    """
    cutoff = (now or timezone.now()) - timedelta(days=conf.history_days())
    # Only deliveries of connection events: a NULL in the subquery would make NOT IN keep every row.
    unfinished = WebhookDelivery.objects.filter(delivered_at__isnull=True, gave_up_at__isnull=True, event__isnull=False)
    doomed = ConnectionEvent.objects.filter(created_at__lt=cutoff, published_at__isnull=False).exclude(
        pk__in=unfinished.values("event_id")
    )
    return doomed.delete()[1].get(ConnectionEvent._meta.label, 0)


def prune_delivery_ledger(now=None) -> int:
    """Delete ledger rows and read-marker moves older than NOTIFY_HISTORY_DAYS: the events they describe are gone."""
    cutoff = (now or timezone.now()) - timedelta(days=conf.history_days())
    deliveries = EventDelivery.objects.filter(first_delivered_at__lt=cutoff).delete()[0]
    return deliveries + ReadMark.objects.filter(at__lt=cutoff).delete()[0]


def prune_all(now=None) -> dict[str, int]:
    """Run every retention step; return how many rows each deleted."""
    return {
        "events": prune_expired_events(now),
        "tickets": tickets.delete_expired_tickets(now),
        "idempotency records": prune_idempotency_records(now),
        "stale presence rows": presence.delete_stale(now),
        "stale MQTT sessions": mqtt_sessions.delete_stale_sessions(now),
        "connection events": prune_connection_events(now),
        "delivery ledger rows": prune_delivery_ledger(now),
    }
