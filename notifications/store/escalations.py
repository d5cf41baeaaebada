"""Where a finished request that nobody saw is scheduled, claimed and settled.

The schedule is a row written in the terminal event's own transaction, so it
survives the instance that stored it. Any instance claims due rows with a
lease (`SKIP LOCKED` where the database has it, and a conditional update
everywhere), so two instances never both escalate one request. Settling a
claim records the e-mail's outcome and plans the publishing services'
`request.unseen` webhooks in one transaction. Reading the event first (the
read marker passing it) cancels it.
"""

import uuid
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from notifications import conf
from notifications.models import TERMINAL_STATUSES, Event, NotificationPreference, StreamHead, UnseenEscalation
from notifications.store import unseen_webhooks

CLAIM_LEASE = timedelta(seconds=60)
CLAIM_BATCH = 50


def schedule_terminal(events: list[Event]) -> None:
    """Schedule the escalation of each terminal status event among `events` (inside their transaction)."""
    after = conf.unseen_after_secs()
    if after <= 0:
        return
    due_at = timezone.now() + timedelta(seconds=after)
    rows = [
        UnseenEscalation(request_id=event.request_id, event=event, user_id=event.user_id, due_at=due_at)
        for event in events
        if event.request_id is not None and event.payload.get("request", {}).get("status") in TERMINAL_STATUSES
    ]
    UnseenEscalation.objects.bulk_create(rows)


def cancel_read(user_id: int, up_to_position: int) -> int:
    """Cancel the user's pending escalations whose event is now read; return how many."""
    return _pending().filter(user_id=user_id, event__position__lte=up_to_position).update(cancelled_at=timezone.now())


def claim_due(limit: int = CLAIM_BATCH) -> list[UnseenEscalation]:
    """Claim due escalations for this process; those read meanwhile are cancelled instead of returned."""
    now, token = timezone.now(), uuid.uuid4().hex
    with transaction.atomic():
        ids = list(
            _pending()
            .select_for_update(skip_locked=True)
            .filter(due_at__lte=now)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .order_by("due_at")
            .values_list("pk", flat=True)[:limit]
        )
        # Conditional, so that two claimers on a database without row locks (SQLite) never share a row.
        _pending().filter(pk__in=ids).filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)).update(
            claimed_until=now + CLAIM_LEASE, claim_token=token
        )
    claimed = list(
        UnseenEscalation.objects.filter(claim_token=token, claimed_until__gt=now).select_related("request", "user")
    )
    return [item for item in claimed if not _cancel_if_read(item)]


def _cancel_if_read(item: UnseenEscalation) -> bool:
    read_position = StreamHead.objects.filter(user_id=item.user_id).values_list("read_position", flat=True).first()
    event_position = Event.objects.filter(pk=item.event_id).values_list("position", flat=True).first()
    if read_position is None or event_position is None or read_position < event_position:
        return False
    _claimed(item).update(cancelled_at=timezone.now())
    return True


def holds(item: UnseenEscalation) -> bool:
    """Return whether this claim is still the one that may escalate (not settled, not taken over)."""
    return _claimed(item).filter(claimed_until__gt=timezone.now()).exists()


def settle(item: UnseenEscalation, via: list[str], outcome: str) -> list[str] | None:
    """Record what was done for a claimed escalation and plan its `request.unseen` webhooks, in one transaction.

    Return how it was escalated (`via`, with `webhook` when a publishing
    service has an endpoint), or None when its lease had passed to another
    claimer: then nothing is recorded and no webhook planned, so each is once.
    """
    now = timezone.now()
    with transaction.atomic():
        endpoints = unseen_webhooks.endpoints_for(item)
        body = unseen_webhooks.build_body(item, now) if endpoints else ""
        via = [*via, "webhook"] if endpoints else via
        if not _claimed(item).update(escalated_at=now, escalated_via=via, outcome=outcome[:200], webhook_body=body):
            return None
        unseen_webhooks.plan(item, endpoints, now)
    return via


def wants_email(user_id: int) -> bool:
    """Return whether the user wants an e-mail for a finished request no page showed (the default)."""
    chosen = NotificationPreference.objects.filter(user_id=user_id).values_list("email_when_unseen", flat=True)
    return chosen.first() is not False


def set_email_preference(user_id: int, wanted: bool) -> None:
    NotificationPreference.objects.update_or_create(user_id=user_id, defaults={"email_when_unseen": wanted})


def _pending():
    return UnseenEscalation.objects.filter(escalated_at__isnull=True, cancelled_at__isnull=True)


def _claimed(item: UnseenEscalation):
    return _pending().filter(pk=item.pk, claim_token=item.claim_token)
