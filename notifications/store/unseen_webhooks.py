"""The `request.unseen` webhook: its body, and which publishing services' endpoints are owed it.

A service configures an endpoint of its own (`WebhookEndpoint.service`);
it is owed the `request.unseen` of each request it published
(`RequestPublisher`: it created the request or reported one of its events),
never of another service's. The deliveries are planned in the transaction
that settles the escalation (`escalations.settle`), so each endpoint is owed
one per request; they are then signed, POSTed and retried like every webhook
delivery (`store/webhooks.py`, `realtime/connection_events.py`).
"""

import json
import uuid
from datetime import UTC, datetime

from notifications.models import (
    REQUEST_UNSEEN,
    Event,
    RequestPublisher,
    UnseenEscalation,
    WebhookDelivery,
    WebhookEndpoint,
)
from notifications.store import webhooks


def endpoints_for(item: UnseenEscalation) -> list[WebhookEndpoint]:
    """Return the active endpoints, taking `request.unseen`, of the active services that published the request."""
    publishers = RequestPublisher.objects.filter(request_id=item.request_id, service__is_active=True)
    endpoints = WebhookEndpoint.objects.filter(is_active=True, service__in=publishers.values("service_id"))
    return [endpoint for endpoint in endpoints.order_by("pk") if webhooks.takes(endpoint, REQUEST_UNSEEN)]


def build_body(item: UnseenEscalation, at: datetime) -> str:
    """Return the JSON body: the request, its terminal event and its owner; nothing of anyone else."""
    tracked = item.request
    event = Event.objects.only("id", "created_at").get(pk=item.event_id)
    body = {
        "type": REQUEST_UNSEEN,
        "event_id": str(uuid.uuid4()),
        "request": {
            "id": str(tracked.pk),
            "title": tracked.title,
            "status": tracked.status,
            "progress": tracked.progress,
        },
        "terminal_event": {"id": str(event.id), "stored_at": _utc(event.created_at)},
        "owner": {"id": item.user_id, "username": item.user.get_username()},
        "at": _utc(at),
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def plan(item: UnseenEscalation, endpoints: list[WebhookEndpoint], at: datetime) -> None:
    """Owe the escalation's `request.unseen` to each endpoint (inside the transaction that settles it)."""
    rows = [WebhookDelivery(endpoint=e, escalation=item, created_at=at, next_attempt_at=at) for e in endpoints]
    WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True)


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")
