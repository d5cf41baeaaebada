"""Retention: delete events older than the history window, and remember where history starts.

Each stream's `pruned_through_seq` records the highest seq that may be gone,
so a resume from an older cursor gets `reset` instead of a silent hole.
`prune_all` also drops what only ever grows otherwise: expired tickets,
idempotency answers past their retry window, and presence rows of instances
that died. Every step is one or a few short transactions, safe while serving.
"""

from datetime import timedelta

from django.db import connection, transaction
from django.db.models import BigIntegerField, Case, Q, Value, When
from django.db.models.functions import Greatest
from django.utils import timezone

from notifications import conf
from notifications.models import (
    ConnectionEvent,
    Event,
    EventDelivery,
    IdempotencyRecord,
    ReadMark,
    StreamHead,
    UnseenEscalation,
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
            rows = list(
                Event.objects.filter(created_at__lt=cutoff)
                .filter(Q(fanned_out_at__isnull=False) | Q(fanout_failed_at__isnull=False))
                .order_by("position")
                .values_list("position", "user_id", "seq")[:batch]
            )
            if not rows:
                return deleted
            last_seqs: dict[int | None, int] = {}
            for _, user_id, seq in rows:
                last_seqs[user_id] = max(seq, last_seqs.get(user_id, 0))
            _move_history_starts(last_seqs)
            deleted += _delete_events([position for position, _, _ in rows])


def _move_history_starts(last_seqs: dict[int | None, int]) -> None:
    """Raise each stream's `pruned_through_seq` to the last seq deleted from it, in at most two statements."""
    announcements = last_seqs.pop(None, None)
    if last_seqs:
        last_deleted = Case(
            *(When(user_id=user_id, then=Value(seq)) for user_id, seq in last_seqs.items()),
            output_field=BigIntegerField(),
        )
        StreamHead.objects.filter(user_id__in=list(last_seqs)).update(
            pruned_through_seq=Greatest("pruned_through_seq", last_deleted)
        )
    if announcements is not None:
        StreamHead.objects.filter(user__isnull=True, pruned_through_seq__lt=announcements).update(
            pruned_through_seq=announcements
        )


def _delete_events(positions: list[int]) -> int:
    """Delete these events and what cascades from them, in two statements.

    `QuerySet.delete()` would load every event (payload included) into a
    model instance to collect its cascades: 2,300 rows a second here, where
    one DELETE by primary key does ten times that.
    """
    UnseenEscalation.objects.filter(event_id__in=positions).delete()
    placeholders = ", ".join(["%s"] * len(positions))
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {Event._meta.db_table} WHERE position IN ({placeholders})", positions)
        return cursor.rowcount


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
