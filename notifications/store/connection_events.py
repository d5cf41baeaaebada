"""The outbox of connection events (PROTOCOL 5.2): rows written as sockets open and close, then published.

Rows are written with the presence rows in one transaction (see
`realtime/presence_writer.py`), so a socket that has a `Connection` row also
has its `user.connected`, and a row deleted as stale (a killed instance)
gets its `user.disconnected` (`instance_lost`) in the transaction that
deletes it. The unique (connection, type) constraint makes each type at
most once per socket whatever path writes it. Any serving instance claims
unpublished rows with a lease (SKIP LOCKED where the database has it),
publishes them and marks them published; a lease that runs out (a killed
publisher) lets another instance publish again, so receivers drop repeats
by `event_id`.
"""

import json
import uuid
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from notifications.models import Connection, ConnectionEvent
from notifications.store import presence, webhooks

CONNECTED = "user.connected"
DISCONNECTED = "user.disconnected"
TYPES = (CONNECTED, DISCONNECTED)
REASONS = ("client", "session_ended", "refused", "shutdown", "instance_lost", "error")
CLAIM_LEASE = timedelta(seconds=30)
CLAIM_BATCH = 200
CLOSE_GOING_AWAY = 1001


def build(
    kind: str, *, user: dict, connection_id: str, instance: str, protocol: str, at: datetime, **ended
) -> ConnectionEvent:
    """Return an unsaved event whose body is PROTOCOL 5.2's; `ended` is `code` and `reason` of a disconnect."""
    event_id = uuid.uuid4()
    body = {
        "type": kind,
        "event_id": str(event_id),
        "user": user,
        "connection_id": connection_id,
        "instance": instance,
        "protocol": protocol,
        "at": at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }
    if kind == DISCONNECTED:
        body["code"], body["reason"] = ended["code"], ended["reason"]
    return ConnectionEvent(
        event_id=event_id,
        type=kind,
        connection_id=connection_id,
        instance=instance,
        body=json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        created_at=timezone.now(),
    )


def record(events: list[ConnectionEvent]) -> int:
    """Store events (one of each type per connection: repeats are dropped) and their webhook deliveries."""
    if not events:
        return 0
    with transaction.atomic():
        ConnectionEvent.objects.bulk_create(events, ignore_conflicts=True)
        stored = list(ConnectionEvent.objects.filter(event_id__in=[e.event_id for e in events]))
        webhooks.plan_deliveries(stored)
    return len(stored)


def apply_changes(process: str, added: list[Connection], removed: set[str], events: list[ConnectionEvent]) -> None:
    """Write presence changes and their connection events in one transaction."""
    with transaction.atomic():
        if added or removed:
            presence.apply_changes(process, added, removed)
        record(events)


def close_process(process: str, events: list[ConnectionEvent]) -> int:
    """Delete a stopping process's rows and store the `shutdown` disconnects of its sockets, in one transaction."""
    with transaction.atomic():
        record(events)
        return presence.delete_process(process)


def declare_lost(now: datetime | None = None) -> int:
    """Delete the connections whose instance's presence expired, each with its `instance_lost` disconnect.

    Each row goes in its own conditional DELETE within the transaction, so
    of two instances racing on a row exactly one deletes it and records it.
    """
    cutoff = presence.fresh_after(now)
    with transaction.atomic():
        rows = list(
            Connection.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(last_seen__lt=cutoff)
            .select_related("user")
            .order_by("last_seen")
        )
        events = []
        for row in rows:
            if Connection.objects.filter(pk=row.pk, last_seen__lt=cutoff).delete()[0]:
                events.append(lost_event(row))
        record(events)
    return len(events)


def lost_event(row: Connection) -> ConnectionEvent:
    """Return the `instance_lost` disconnect of a connection whose instance stopped refreshing it."""
    return build(
        DISCONNECTED,
        user={"id": row.user_id, "username": row.user.get_username()},
        connection_id=row.connection_id,
        instance=row.instance,
        protocol=row.protocol,
        at=timezone.now(),
        code=None,
        reason="instance_lost",
    )


# --- publishing ------------------------------------------------------------------------------


def claim_unpublished(limit: int = CLAIM_BATCH) -> list[ConnectionEvent]:
    """Claim unpublished events for one publish round, oldest first (a lease, so a killed claimer frees them)."""
    now = timezone.now()
    token = uuid.uuid4().hex
    free = Q(published_at__isnull=True) & (Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
    with transaction.atomic():
        positions = list(
            ConnectionEvent.objects.select_for_update(skip_locked=True)
            .filter(free)
            .order_by("position")
            .values_list("position", flat=True)[:limit]
        )
        ConnectionEvent.objects.filter(free, pk__in=positions).update(
            claimed_until=now + CLAIM_LEASE, claim_token=token, publish_attempts=F("publish_attempts") + 1
        )
    return list(ConnectionEvent.objects.filter(claim_token=token, published_at__isnull=True).order_by("position"))


def mark_published(positions: list[int]) -> int:
    """Mark events published (after the broker confirmed them)."""
    return ConnectionEvent.objects.filter(pk__in=positions).update(published_at=timezone.now(), claimed_until=None)


def release(positions: list[int]) -> int:
    """Free claimed events that could not be published, for the next round."""
    return ConnectionEvent.objects.filter(pk__in=positions, published_at__isnull=True).update(claimed_until=None)
