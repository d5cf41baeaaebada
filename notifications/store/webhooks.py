"""Webhook endpoints and their deliveries (PROTOCOL 5.2): what each is owed, each attempt, the signature.

A delivery is planned for each active endpoint that takes the event's type
in the transaction that stores the event: connection events to operators'
endpoints (no service), `request.unseen` to the endpoints of the services
that published the request (`store/unseen_webhooks.py`). Running instances claim due
deliveries with a lease, POST them (`realtime/connection_events.py`) and
store every attempt; a failed one is due again after `retry_delay_secs`
(the first retry within 10 s, then doubling, at most an hour apart) until
NOTIFY_WEBHOOK_RETRY_SECS (24 h) after the event, when the delivery gives up.
"""

import hashlib
import hmac
import uuid
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from notifications import conf
from notifications.models import (
    REQUEST_UNSEEN,
    ConnectionEvent,
    ServiceClient,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

CLAIM_BATCH = 100
ANSWER_KEPT_CHARS = 1000
MAX_RETRY_DELAY_SECS = 3600.0
SERVICE_EVENT_TYPES = (REQUEST_UNSEEN,)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Return the `X-Notify-Signature` value: `t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">`."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def retry_delay_secs(attempts: int) -> float:
    """Return how long after its `attempts`-th failed attempt a delivery is tried again."""
    return min(conf.webhook_first_retry_secs() * 2 ** (attempts - 1), MAX_RETRY_DELAY_SECS)


def save_endpoint(
    url: str, secret: str, events: list[str], service: ServiceClient | None = None
) -> tuple[WebhookEndpoint, bool]:
    """Create the endpoint of `url`, or update its secret, events and service; return it and whether it was created."""
    return WebhookEndpoint.objects.update_or_create(
        url=url, defaults={"secret": secret, "events": sorted(set(events)), "is_active": True, "service": service}
    )


def takes(endpoint: WebhookEndpoint, event_type: str) -> bool:
    """Return whether `endpoint` is owed events of `event_type`.

    A service's endpoint takes only what is about that service's requests
    (`request.unseen`), an operator's only connection events; within that,
    its `events` list (empty: every type it may take).
    """
    if (event_type in SERVICE_EVENT_TYPES) != (endpoint.service_id is not None):
        return False
    return not endpoint.events or event_type in endpoint.events


def plan_deliveries(events: list[ConnectionEvent]) -> int:
    """Owe each stored event to every active endpoint that takes its type (inside the storing transaction)."""
    endpoints = list(WebhookEndpoint.objects.filter(is_active=True, service__isnull=True))
    rows = [
        WebhookDelivery(endpoint=endpoint, event=event, created_at=event.created_at, next_attempt_at=event.created_at)
        for event in events
        for endpoint in endpoints
        if takes(endpoint, event.type)
    ]
    WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def claim_due(limit: int = CLAIM_BATCH) -> list[WebhookDelivery]:
    """Claim the deliveries due now, with their endpoint and event, for a lease past one attempt's timeout."""
    now = timezone.now()
    token = uuid.uuid4().hex
    due = Q(delivered_at__isnull=True, gave_up_at__isnull=True, next_attempt_at__lte=now) & (
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    )
    lease = timedelta(seconds=conf.webhook_timeout_secs() * 3 + 30)
    with transaction.atomic():
        ids = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(due)
            .order_by("next_attempt_at")
            .values_list("id", flat=True)[:limit]
        )
        WebhookDelivery.objects.filter(due, id__in=ids).update(claimed_until=now + lease, claim_token=token)
    return list(WebhookDelivery.objects.filter(claim_token=token).select_related("endpoint", "event", "escalation"))


def record_attempt(
    delivery: WebhookDelivery, *, status_code: int | None, answer: str, error: str, duration_ms: int
) -> WebhookAttempt:
    """Store one attempt and move the delivery on: delivered, due again after the backoff, or given up."""
    ok = status_code is not None and 200 <= status_code < 300
    now = timezone.now()
    with transaction.atomic():
        attempt = WebhookAttempt.objects.create(
            delivery=delivery,
            attempted_at=now,
            ok=ok,
            status_code=status_code,
            answer=answer[:ANSWER_KEPT_CHARS],
            error=error[:200],
            duration_ms=duration_ms,
        )
        delivery.attempts += 1
        delivery.claimed_until = None
        if ok:
            delivery.delivered_at = now
        else:
            _schedule_retry(delivery, now)
        delivery.save(update_fields=["attempts", "claimed_until", "delivered_at", "next_attempt_at", "gave_up_at"])
    return attempt


def _schedule_retry(delivery: WebhookDelivery, now) -> None:
    next_at = now + timedelta(seconds=retry_delay_secs(delivery.attempts))
    if next_at > delivery.created_at + timedelta(seconds=conf.webhook_retry_secs()):
        delivery.gave_up_at = now
    else:
        delivery.next_attempt_at = next_at
