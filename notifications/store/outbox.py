"""The outbox: stored events that no instance has handed to the channel layer yet.

Every event starts pending. The instance that committed it usually sends it
at once; if it could not (broker down, process killed, published from a
management command), the periodic sweep of any serving instance claims it
with a short lease and sends it.

An event that cannot be sent (a payload forced into the database past the
API's checks, which no encoder takes) must not be re-sent forever: each
failed send counts an attempt, and after NOTIFY_OUTBOX_MAX_ATTEMPTS the
outbox gives up on it, marks it failed (`fanout_failed_at`, `fanout_error`),
counts it in `notify_events_failed` and logs it once. One that cannot even be
loaded or encoded is given up on at once: no retry can change that.
"""

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from notifications import conf
from notifications.models import Event, UnreadablePayload
from notifications.ops import metrics
from notifications.protocol import jsonsafe

logger = logging.getLogger(__name__)

CLAIM_LEASE = timedelta(seconds=15)
SWEEP_BATCH = 200
# Deeper than anything the API stores (its bodies are checked to jsonsafe.MAX_DEPTH, then wrapped).
STORED_MAX_DEPTH = 4 * jsonsafe.MAX_DEPTH
# What loading or encoding a stored payload raises when it is not plain JSON.
BAD_PAYLOAD_ERRORS = (ValueError, TypeError, RecursionError)


def claim_pending(older_than: timedelta, limit: int = SWEEP_BATCH) -> list[Event]:
    """Claim pending events stored before `older_than` ago, oldest first; give up on rows that cannot be loaded."""
    now = timezone.now()
    with transaction.atomic():
        positions = list(
            _pending()
            .select_for_update(skip_locked=True)
            .filter(created_at__lt=now - older_than)
            .filter(Q(fanout_claimed_until__isnull=True) | Q(fanout_claimed_until__lt=now))
            .order_by("position")
            .values_list("position", flat=True)[:limit]
        )
        Event.objects.filter(pk__in=positions).update(fanout_claimed_until=now + CLAIM_LEASE)
    return _load(positions)


def _pending():
    return Event.objects.filter(fanned_out_at__isnull=True, fanout_failed_at__isnull=True)


def _load(positions: list[int]) -> list[Event]:
    """Return the events at these positions, in order; one whose payload does not load is given up on."""
    events = list(Event.objects.filter(pk__in=positions).order_by("position"))
    unreadable = [event for event in events if isinstance(event.payload, UnreadablePayload)]
    for event in unreadable:
        record_failed_attempts([event.position], f"payload cannot be loaded: {event.payload.reason}", final=True)
    return [event for event in events if not isinstance(event.payload, UnreadablePayload)]


def check_sendable(event: Event) -> None:
    """Raise ValueError unless the event's payload is plain JSON that encodes to UTF-8 (what the layer carries)."""
    try:
        jsonsafe.check(event.payload, max_depth=STORED_MAX_DEPTH, path="payload")
        event.encoded_payload.encode("utf-8")
    except BAD_PAYLOAD_ERRORS as exc:
        raise ValueError(f"payload cannot be encoded: {_describe(exc)}") from None


def drop_unsendable(events: list[Event]) -> list[Event]:
    """Return the events that can be sent; give up at once on the others."""
    sendable = []
    for event in events:
        try:
            check_sendable(event)
        except ValueError as exc:
            record_failed_attempts([event.position], str(exc), final=True)
        else:
            sendable.append(event)
    return sendable


def mark_fanned_out(positions: list[int]) -> None:
    """Record that these events reached the channel layer (one more attempt each)."""
    Event.objects.filter(pk__in=positions, fanned_out_at__isnull=True).update(
        fanned_out_at=timezone.now(), fanout_attempts=F("fanout_attempts") + 1
    )


def record_failed_attempts(positions: list[int], error: str, *, final: bool = False) -> int:
    """Count one more failed attempt for each event; give up on those past the bound (all, if `final`)."""
    _pending().filter(pk__in=positions).update(fanout_attempts=F("fanout_attempts") + 1)
    exhausted = _pending().filter(pk__in=positions)
    if not final:
        exhausted = exhausted.filter(fanout_attempts__gte=conf.outbox_max_attempts())
    return give_up(list(exhausted.values_list("position", flat=True)), error)


def give_up(positions: list[int], error: str) -> int:
    """Mark pending events failed, so no instance sends them again; log and count each once. Return how many."""
    failed = 0
    rows = _pending().filter(pk__in=positions).values_list("position", "id", "fanout_attempts")
    for position, event_id, attempts in rows:
        if _pending().filter(pk=position).update(fanout_failed_at=timezone.now(), fanout_error=error[:200]):
            failed += 1
            _report_failed(position, event_id, attempts, error)
    return failed


def _report_failed(position: int, event_id, attempts: int, error: str) -> None:
    """Count and log one event given up on: its id, never its payload."""
    metrics.EVENTS_FAILED.inc()
    logger.error(
        "outbox gave up on event %s after %s attempts: %s",
        event_id,
        attempts,
        error,
        extra={"event": "event.failed", "event_id": str(event_id), "position": position, "attempts": attempts},
    )


def pending_count() -> int:
    return _pending().count()


def _describe(exc: BaseException) -> str:
    """Name what went wrong without quoting the payload."""
    if isinstance(exc, jsonsafe.UnsafeJSON):
        return str(exc)[:150]
    return exc.__class__.__name__
