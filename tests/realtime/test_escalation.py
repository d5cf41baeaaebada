"""Settling a claimed escalation: one e-mail with the outcome and a link, or the reason there was none."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.utils import timezone
from prometheus_client import REGISTRY

from notifications.models import ServiceClient, UnseenEscalation, WebhookDelivery
from notifications.realtime import escalation
from notifications.realtime.escalation import escalate, escalate_guarded
from notifications.store import actions, escalations, webhooks


@pytest.fixture
def claimed(db, settings):
    """Return a function that finishes a request of a user and returns its claimed escalation."""
    settings.NOTIFY_PUBLIC_URL = "https://notify.example.com/"

    def claim(email: str = "ada@example.com", status: str = "failed"):
        user = get_user_model().objects.create_user("ada", email=email, password="pw")
        tracked, _ = actions.do_create_request(user, "Monthly report")
        actions.do_publish_status(tracked.id, status, message="disk full" if status == "failed" else "")
        UnseenEscalation.objects.update(due_at=timezone.now() - timedelta(seconds=1))
        [item] = escalations.claim_due()
        return item

    return claim


def test_the_owner_gets_one_e_mail_with_the_outcome_and_a_link(claimed):
    item = claimed()
    escalate(item)
    [message] = mail.outbox
    assert message.to == ["ada@example.com"]
    assert message.subject == "Monthly report failed"
    assert "disk full" in message.body
    assert f"https://notify.example.com/requests/{item.request_id}/" in message.body
    settled = UnseenEscalation.objects.get()
    assert settled.escalated_via == ["email"] and settled.outcome == "e-mail sent"


def test_no_e_mail_when_the_user_turned_it_off(claimed):
    item = claimed()
    escalations.set_email_preference(item.user_id, False)
    escalate(item)
    assert mail.outbox == []
    settled = UnseenEscalation.objects.get()
    assert settled.escalated_at is not None and settled.escalated_via == []
    assert settled.outcome == "e-mail turned off by the user"


def test_no_e_mail_without_an_address(claimed):
    item = claimed(email="")
    escalate(item)
    assert mail.outbox == []
    assert UnseenEscalation.objects.get().outcome == "no e-mail address"


def test_an_escalation_settled_elsewhere_is_not_sent_twice(claimed):
    """Escalating the same claim twice sends one mail: the second settle finds it settled."""
    item = claimed(status="succeeded")
    escalate(item)
    escalate(item)
    assert len(mail.outbox) == 1


def test_a_title_with_line_breaks_makes_a_one_line_subject(db, settings):
    """A mail header cannot hold a line break; the subject is the title on one line."""
    user = get_user_model().objects.create_user("ada", email="ada@example.com", password="pw")
    tracked, _ = actions.do_create_request(user, "Report\r\nBcc: everyone@example.com")
    actions.do_publish_status(tracked.id, "succeeded")
    UnseenEscalation.objects.update(due_at=timezone.now() - timedelta(seconds=1))
    [item] = escalations.claim_due()
    escalate_guarded(item)
    [message] = mail.outbox
    assert message.subject == "Report Bcc: everyone@example.com succeeded"
    assert message.to == ["ada@example.com"] and not message.bcc


def test_an_unexpected_error_settles_the_row_instead_of_retrying_it_forever(claimed, monkeypatch):
    item = claimed()
    monkeypatch.setattr(escalation, "_send", lambda user, tracked: 1 / 0)
    escalate_guarded(item)
    settled = UnseenEscalation.objects.get()
    assert settled.escalated_at is not None and settled.outcome == "failed: ZeroDivisionError"
    assert escalations.claim_due() == []


@pytest.fixture
def published_by_billing(db, settings):
    """Return a function that finishes a request billing created (billing has a webhook) and claims it."""
    billing = ServiceClient.objects.create(name="billing", token_hash="b" * 64, can_publish=True)
    webhooks.save_endpoint("https://billing.example.org/hook", "billing-secret", [], billing)

    def claim(email: str = "ada@example.com"):
        user = get_user_model().objects.create_user("ada", email=email, password="pw")
        tracked, _ = actions.do_create_request(user, "Payroll", publisher=billing)
        actions.do_publish_status(tracked.id, "succeeded")
        UnseenEscalation.objects.update(due_at=timezone.now() - timedelta(seconds=1))
        [item] = escalations.claim_due()
        return item

    return claim


def settled_by(channel: str) -> float:
    return REGISTRY.get_sample_value("notify_unseen_escalations_total", {"outcome": channel}) or 0


def test_the_publishing_service_is_told_with_the_e_mail(published_by_billing):
    """One mail and one request.unseen delivery; the row says both, and the metric counts each channel once."""
    before = {channel: settled_by(channel) for channel in ("email", "webhook", "none")}
    escalate(published_by_billing())
    assert len(mail.outbox) == 1
    assert WebhookDelivery.objects.get().event_type == "request.unseen"
    settled = UnseenEscalation.objects.get()
    assert settled.escalated_via == ["email", "webhook"] and settled.outcome == "e-mail sent"
    after = {channel: settled_by(channel) for channel in before}
    assert after == {"email": before["email"] + 1, "webhook": before["webhook"] + 1, "none": before["none"]}


def test_the_service_is_told_even_when_the_owner_gets_no_mail(published_by_billing):
    """No address: no mail, but the webhook is the service's, so it still goes."""
    escalate(published_by_billing(email=""))
    assert mail.outbox == []
    assert WebhookDelivery.objects.count() == 1
    settled = UnseenEscalation.objects.get()
    assert settled.escalated_via == ["webhook"] and settled.outcome == "no e-mail address"
