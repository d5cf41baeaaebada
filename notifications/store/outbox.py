"""The outbox: stored events that no instance has handed to the channel layer yet.

Every event starts pending. The instance that committed it usually sends it
at once; if it could not (broker down, process killed, published from a
management command), the periodic sweep of any serving instance claims it
with a short lease and sends it.
"""

from datetime import timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from notifications.models import Event

CLAIM_LEASE = timedelta(seconds=15)
SWEEP_BATCH = 200


def claim_pending(older_than: timedelta, limit: int = SWEEP_BATCH) -> list[Event]:
    """Claim pending events stored before `older_than` ago, oldest first."""
    now = timezone.now()
    with transaction.atomic():
        events = list(
            Event.objects.select_for_update(skip_locked=True)
            .filter(fanned_out_at__isnull=True, created_at__lt=now - older_than)
            .filter(Q(fanout_claimed_until__isnull=True) | Q(fanout_claimed_until__lt=now))
            .order_by("position")[:limit]
        )
        Event.objects.filter(pk__in=[event.pk for event in events]).update(fanout_claimed_until=now + CLAIM_LEASE)
    return events


def mark_fanned_out(positions: list[int]) -> None:
    """Record that these events reached the channel layer (one more attempt each)."""
    Event.objects.filter(pk__in=positions, fanned_out_at__isnull=True).update(
        fanned_out_at=timezone.now(), fanout_attempts=F("fanout_attempts") + 1
    )


def mark_attempt_failed(positions: list[int]) -> None:
    Event.objects.filter(pk__in=positions).update(fanout_attempts=F("fanout_attempts") + 1)


def pending_count() -> int:
    return Event.objects.filter(fanned_out_at__isnull=True).count()
