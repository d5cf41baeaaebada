"""Webhooks: the signature, planned deliveries, attempts, backoff, giving up, and `create_webhook`."""

import hashlib
import hmac
import io
import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from notifications.models import ConnectionEvent, ServiceClient, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from notifications.store import connection_events, webhooks

pytestmark = pytest.mark.django_db


def stored_event(user, number: int = 1, kind: str = "user.connected") -> ConnectionEvent:
    extra = {"code": 1000, "reason": "client"} if kind == "user.disconnected" else {}
    event = connection_events.build(
        kind,
        user={"id": user.pk, "username": user.username},
        connection_id=f"w{number:031d}",
        instance="A",
        protocol="json",
        at=timezone.now(),
        **extra,
    )
    connection_events.record([event])
    return ConnectionEvent.objects.get(event_id=event.event_id)


def test_the_signature_is_hmac_sha256_of_t_dot_body():
    """`t=<time>,v1=<hex>` with the HMAC-SHA256 keyed by the secret's UTF-8 bytes, of "t.body"."""
    body = b'{"type":"user.connected"}'
    expected = hmac.new("sécret".encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert webhooks.sign("sécret", 1700000000, body) == f"t=1700000000,v1={expected}"


def test_the_first_retry_comes_within_ten_seconds_then_the_delay_doubles_up_to_an_hour(settings):
    """Backoff: 5, 10, 20 ... seconds, never more than an hour apart."""
    settings.NOTIFY_WEBHOOK_FIRST_RETRY_SECS = 5.0
    assert webhooks.retry_delay_secs(1) == 5.0 <= 10
    assert webhooks.retry_delay_secs(2) == 10.0
    assert webhooks.retry_delay_secs(4) == 40.0
    assert webhooks.retry_delay_secs(30) == 3600.0


def test_an_event_is_owed_only_to_active_endpoints_that_take_its_type(django_user_model):
    """Deliveries are planned with the event: per active endpoint, filtered by its event types."""
    user = django_user_model.objects.create_user("ada")
    both, _ = webhooks.save_endpoint("http://127.0.0.1:9/both", "s", list(connection_events.TYPES))
    webhooks.save_endpoint("http://127.0.0.1:9/ends", "s", ["user.disconnected"])
    off, _ = webhooks.save_endpoint("http://127.0.0.1:9/off", "s", [])
    WebhookEndpoint.objects.filter(pk=off.pk).update(is_active=False)
    event = stored_event(user)
    assert [d.endpoint_id for d in WebhookDelivery.objects.filter(event=event)] == [both.pk]


def test_a_failed_attempt_is_stored_and_due_again_after_the_backoff_a_2xx_delivers(django_user_model):
    """Each attempt is a row; a 500 reschedules the delivery, a 204 marks it delivered."""
    user = django_user_model.objects.create_user("ada")
    webhooks.save_endpoint("http://127.0.0.1:9/hook", "s", [])
    stored_event(user)
    (delivery,) = webhooks.claim_due()
    assert webhooks.claim_due() == []  # leased
    before = timezone.now()
    webhooks.record_attempt(delivery, status_code=500, answer="boom", error="", duration_ms=3)
    delivery.refresh_from_db()
    assert delivery.attempts == 1 and delivery.delivered_at is None
    assert before + timedelta(seconds=4) < delivery.next_attempt_at < before + timedelta(seconds=10)
    WebhookDelivery.objects.update(next_attempt_at=timezone.now())
    (delivery,) = webhooks.claim_due()
    webhooks.record_attempt(delivery, status_code=204, answer="", error="", duration_ms=2)
    delivery.refresh_from_db()
    assert delivery.delivered_at is not None and webhooks.claim_due() == []
    assert list(WebhookAttempt.objects.order_by("id").values_list("ok", "status_code", "answer")) == [
        (False, 500, "boom"),
        (True, 204, ""),
    ]


def test_a_delivery_gives_up_once_the_retry_window_is_over(django_user_model):
    """Past NOTIFY_WEBHOOK_RETRY_SECS after the event, a failure is the last attempt."""
    user = django_user_model.objects.create_user("ada")
    webhooks.save_endpoint("http://127.0.0.1:9/hook", "s", [])
    stored_event(user)
    WebhookDelivery.objects.update(created_at=timezone.now() - timedelta(hours=24))
    (delivery,) = webhooks.claim_due()
    webhooks.record_attempt(delivery, status_code=None, answer="", error="ConnectTimeout", duration_ms=10000)
    delivery.refresh_from_db()
    assert delivery.gave_up_at is not None and webhooks.claim_due() == []


def test_create_webhook_creates_with_both_events_and_updates_the_same_url():
    """Without --event both types; again with the same URL it updates secret and events, no second row."""
    out = io.StringIO()
    call_command("create_webhook", "https://example.org/hook", "--secret", "one", stdout=out)
    assert "Created" in out.getvalue()
    assert WebhookEndpoint.objects.get().events == ["user.connected", "user.disconnected"]
    call_command(
        "create_webhook", "https://example.org/hook", "--secret", "two", "--event", "user.disconnected", stdout=out
    )
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.secret, endpoint.events) == ("two", ["user.disconnected"])
    with pytest.raises(CommandError):
        call_command("create_webhook", "ftp://example.org/", "--secret", "x")
    assert json.dumps(endpoint.events)


def test_the_admin_edits_endpoints_and_shows_each_attempt_with_its_status_and_answer(client, django_user_model):
    """Endpoints have an add form; a delivery's page lists its attempts (status, answer); the list shows its state."""
    staff = django_user_model.objects.create_superuser("boss", password="pw")
    client.force_login(staff)
    webhooks.save_endpoint("http://127.0.0.1:9/hook", "s", [])
    stored_event(staff)
    (delivery,) = webhooks.claim_due()
    webhooks.record_attempt(delivery, status_code=503, answer="try later", error="", duration_ms=7)
    assert client.get("/admin/notifications/webhookendpoint/add/").status_code == 200
    page = client.get(f"/admin/notifications/webhookdelivery/{delivery.pk}/change/")
    assert page.status_code == 200 and b"try later" in page.content and b"503" in page.content
    listing = client.get("/admin/notifications/webhookdelivery/")
    assert listing.status_code == 200 and b"retrying" in listing.content
    assert client.get("/admin/notifications/connectionevent/").status_code == 200


def test_an_endpoint_added_in_the_admin_stores_its_event_types(client, django_user_model):
    """The admin form saves the URL, the secret and the ticked event types."""
    client.force_login(django_user_model.objects.create_superuser("boss", password="pw"))
    answer = client.post(
        "/admin/notifications/webhookendpoint/add/",
        {"url": "https://example.org/in", "secret": "s3", "events": ["user.connected"], "is_active": "on"},
    )
    assert answer.status_code == 302
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.url, endpoint.secret, endpoint.events) == ("https://example.org/in", "s3", ["user.connected"])


def test_create_webhook_with_a_service_makes_that_service_s_request_unseen_endpoint():
    """`--service` ties the endpoint to the service and to request.unseen; connection events are refused for it."""
    billing = ServiceClient.objects.create(name="billing", token_hash="b" * 64, can_publish=True)
    out = io.StringIO()
    call_command(
        "create_webhook", "https://billing.example.org/hook", "--secret", "s", "--service", "billing", stdout=out
    )
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.service, endpoint.events) == (billing, ["request.unseen"])
    assert "of service billing" in out.getvalue()
    with pytest.raises(CommandError, match="cannot take user.connected"):
        call_command(
            "create_webhook",
            "https://b.example.org/",
            "--secret",
            "s",
            "--service",
            "billing",
            "--event",
            "user.connected",
        )
    with pytest.raises(CommandError, match="cannot take request.unseen"):
        call_command("create_webhook", "https://ops.example.org/", "--secret", "s", "--event", "request.unseen")
    with pytest.raises(CommandError, match="no service client named"):
        call_command("create_webhook", "https://x.example.org/", "--secret", "s", "--service", "nobody")


def test_a_service_s_endpoint_gets_no_connection_events(django_user_model):
    """Connection events of every user go to operators' endpoints only, never to a publishing service's."""
    billing = ServiceClient.objects.create(name="billing", token_hash="b" * 64, can_publish=True)
    webhooks.save_endpoint("https://billing.example.org/hook", "s", [], billing)
    webhooks.save_endpoint("https://ops.example.org/hook", "s", [])
    stored_event(django_user_model.objects.create_user("ada"))
    assert [d.endpoint.url for d in WebhookDelivery.objects.all()] == ["https://ops.example.org/hook"]


def test_the_admin_manages_a_service_s_webhook_on_its_page_and_refuses_mismatched_types(client, django_user_model):
    """The service's page edits its webhook; the endpoint form refuses connection events for a service's endpoint."""
    client.force_login(django_user_model.objects.create_superuser("boss", password="pw"))
    billing = ServiceClient.objects.create(name="billing", token_hash="b" * 64, can_publish=True)
    page = f"/admin/notifications/serviceclient/{billing.pk}/change/"
    form = {
        "name": "billing",
        "can_publish": "on",
        "webhooks-TOTAL_FORMS": "1",
        "webhooks-INITIAL_FORMS": "0",
        "webhooks-0-url": "https://billing.example.org/hook",
        "webhooks-0-secret": "billing-secret",
        "webhooks-0-is_active": "on",
    }
    assert client.get(page).status_code == 200
    assert client.post(page, form).status_code == 302
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.service, endpoint.url, endpoint.events) == (billing, "https://billing.example.org/hook", [])
    refused = client.post(
        f"/admin/notifications/webhookendpoint/{endpoint.pk}/change/",
        {"url": endpoint.url, "service": billing.pk, "secret": "s", "events": ["user.connected"], "is_active": "on"},
    )
    assert refused.status_code == 200 and b"cannot take user.connected" in refused.content
    listing = client.get("/admin/notifications/webhookendpoint/")
    assert listing.status_code == 200 and b"billing" in listing.content
