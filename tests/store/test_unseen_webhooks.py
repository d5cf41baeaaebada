"""The `request.unseen` webhook: owed to the publishing services' endpoints only, planned once with the settle."""

import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from notifications.models import ServiceClient, UnseenEscalation, WebhookDelivery
from notifications.store import actions, escalations, service_tokens, webhooks

pytestmark = pytest.mark.django_db


@pytest.fixture
def ada():
    return get_user_model().objects.create_user("ada", email="ada@example.com", password="pw")


def service(name: str, url: str | None = None) -> ServiceClient:
    client = ServiceClient(name=name, can_publish=True)
    service_tokens.issue_token(client)
    if url:
        webhooks.save_endpoint(url, f"{name}-secret", [], client)
    return client


def finish(user, publisher: ServiceClient | None, title: str = "Payroll", status: str = "succeeded"):
    """Finish a request created by `publisher` and return its claimed escalation."""
    tracked, _ = actions.do_create_request(user, title, publisher=publisher)
    actions.do_publish_statuses([actions.StatusChange(tracked.pk, status, None, "", None)], publisher=publisher)
    UnseenEscalation.objects.filter(request=tracked).update(due_at=timezone.now() - timedelta(seconds=1))
    [item] = [item for item in escalations.claim_due() if item.request_id == tracked.pk]
    return item


def test_the_publishing_service_is_owed_one_documented_body_planned_with_the_settle(ada):
    """Settling plans one delivery to the publisher's endpoint; the body is the request, its event, its owner."""
    billing = service("billing", "https://billing.example.org/hook")
    item = finish(ada, billing, title="Invoice run", status="failed")
    assert escalations.settle(item, ["email"], "e-mail sent") == ["email", "webhook"]
    [delivery] = WebhookDelivery.objects.select_related("endpoint", "escalation")
    assert (delivery.endpoint.service, delivery.escalation_id, delivery.event_type) == (
        billing,
        item.pk,
        "request.unseen",
    )
    body = json.loads(delivery.body)
    terminal = item.request.events.order_by("position").last()
    assert set(body) == {"type", "event_id", "request", "terminal_event", "owner", "at"}
    assert body["type"] == "request.unseen"
    assert body["request"] == {"id": str(item.request_id), "title": "Invoice run", "status": "failed", "progress": 0}
    assert body["terminal_event"]["id"] == str(terminal.id)
    assert body["terminal_event"]["stored_at"].endswith("Z")
    assert body["owner"] == {"id": ada.pk, "username": "ada"}
    assert "ada@example.com" not in delivery.body and "secret" not in delivery.body
    assert UnseenEscalation.objects.get().escalated_via == ["email", "webhook"]


def test_a_settle_whose_lease_passed_plans_no_webhook(ada):
    """Two claimers settling the same request: the second records nothing and plans nothing."""
    item = finish(ada, service("billing", "https://billing.example.org/hook"))
    assert escalations.settle(item, ["email"], "e-mail sent") is not None
    assert escalations.settle(item, ["email"], "e-mail sent") is None
    assert WebhookDelivery.objects.count() == 1


def test_another_service_and_an_operator_endpoint_get_nothing(ada):
    """Only services that published the request are owed it; an operator's endpoint takes connection events only."""
    billing = service("billing", "https://billing.example.org/hook")
    service("reports", "https://reports.example.org/hook")
    webhooks.save_endpoint("https://ops.example.org/hook", "ops-secret", [])
    escalations.settle(finish(ada, billing), [], "no e-mail address")
    assert [d.endpoint.url for d in WebhookDelivery.objects.all()] == ["https://billing.example.org/hook"]


def test_every_service_that_published_one_of_its_events_is_owed_it(ada):
    """The creator and a service that reported an event both published the request; each gets one."""
    creator = service("creator", "https://creator.example.org/hook")
    worker = service("worker", "https://worker.example.org/hook")
    tracked, _ = actions.do_create_request(ada, "Import", publisher=creator)
    actions.do_publish_statuses([actions.StatusChange(tracked.pk, "succeeded", None, "", None)], publisher=worker)
    UnseenEscalation.objects.update(due_at=timezone.now() - timedelta(seconds=1))
    [item] = escalations.claim_due()
    escalations.settle(item, [], "e-mail turned off by the user")
    assert sorted(d.endpoint.service.name for d in WebhookDelivery.objects.all()) == ["creator", "worker"]


def test_no_webhook_without_an_active_endpoint_or_for_a_revoked_service(ada):
    """No endpoint, an inactive one, or a revoked service: the escalation is e-mail only."""
    quiet = service("quiet")
    paused = service("paused", "https://paused.example.org/hook")
    paused.webhooks.update(is_active=False)
    revoked = service("revoked", "https://revoked.example.org/hook")
    service_tokens.revoke(revoked)
    for number, publisher in enumerate((quiet, paused, revoked)):
        assert escalations.settle(finish(ada, publisher, title=f"r{number}"), ["email"], "e-mail sent") == ["email"]
    assert not WebhookDelivery.objects.exists()


def test_a_request_unseen_delivery_is_claimed_and_retried_like_every_webhook(ada):
    """The sender's claim returns it with its body; a failed attempt makes it due again after the backoff."""
    escalations.settle(finish(ada, service("billing", "https://billing.example.org/hook")), [], "no e-mail address")
    [delivery] = webhooks.claim_due()
    assert json.loads(delivery.body)["type"] == "request.unseen"
    webhooks.record_attempt(delivery, status_code=500, answer="", error="", duration_ms=3)
    delivery.refresh_from_db()
    assert delivery.delivered_at is None and delivery.next_attempt_at > timezone.now()
