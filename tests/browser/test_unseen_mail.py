"""A request that finishes while the tab is hidden is mailed; showing the tab then marks it read, in the ledger too."""

import json
import time
from datetime import datetime

from playwright.sync_api import expect

from tests.integration.conftest import Service
from tests.integration.harness.mail import smtp_server
from tests.integration.harness.webhooks import WebhookReceiver, verify

from .pages import create_request, hidden_tab, report, sign_in

UNSEEN_AFTER_SECS = 2
MAIL_WAIT_SECS = UNSEEN_AFTER_SECS + 15
LEDGER_WAIT_SECS = 10
HOOK_SECRET = "worker-webhook-secret"
SETUP_SCRIPT = """
import json, os
from django.contrib.auth import get_user_model
from django.core.management import call_command
url, secret = json.loads(os.environ["UNSEEN_TEST_HOOK"])
get_user_model().objects.filter(username="ada").update(email="ada@example.com")
call_command("create_webhook", url, "--secret", secret, "--service", "worker")
"""


def terminal_entry(ada, request_id: str, until, timeout: float = LEDGER_WAIT_SECS) -> dict:
    """Return the ledger entry of the request's last event once `until(entry)` holds (or at the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = ada.get(f"/api/v1/requests/{request_id}/delivery/")
        assert answer.status_code == 200, answer.text
        entry = answer.json()["events"][-1]
        if until(entry) or time.monotonic() > deadline:
            return entry
        time.sleep(0.2)


def test_a_request_finished_in_a_hidden_tab_is_mailed_and_read_once_the_tab_is_shown(make_deployment, context):
    """Hidden tab: the badge counts, the mail (with the link) arrives, the service's webhook too; shown: read."""
    with smtp_server() as mailbox, WebhookReceiver() as hook:
        env = {"NOTIFY_UNSEEN_AFTER_SECS": str(UNSEEN_AFTER_SECS), "EMAIL_URL": mailbox.email_url}
        service = Service(make_deployment(extra_env=env))
        setup_env = service.deployment.env(UNSEEN_TEST_HOOK=json.dumps([hook.url, HOOK_SECRET]))
        service.deployment.manage("shell", "--no-imports", "-c", SETUP_SCRIPT, env=setup_env)
        page = sign_in(hidden_tab(context.new_page()), service.a, "ada")
        with service.publisher(service.b) as publisher:
            request_id = create_request(publisher, "ada", "Payroll")
            terminal_id = report(publisher, request_id, "succeeded")
        expect(page.locator(".unread-count")).to_have_text("2")

        [message] = mailbox.wait_for(1, MAIL_WAIT_SECS)
        assert message["Subject"] == "Payroll succeeded" and message["To"] == "ada@example.com"
        assert f"/requests/{request_id}/" in message.get_content()
        ada = service.session("ada", service.b)
        escalated = terminal_entry(ada, request_id, lambda entry: entry["escalated_at"] is not None)
        assert escalated["id"] == terminal_id and escalated["first_delivered_at"] is not None
        assert escalated["read_at"] is None, "a hidden tab marked it read"

        page.evaluate("window.showTab()")
        expect(page.locator(".unread-count")).to_be_hidden()
        entry = terminal_entry(ada, request_id, lambda entry: entry["read_at"] is not None)
        assert entry["read_at"] is not None
        assert datetime.fromisoformat(entry["read_at"]) > datetime.fromisoformat(entry["escalated_at"])
        assert entry["escalated_via"] == ["email", "webhook"]
        [delivered] = [verify(HOOK_SECRET, request) for request in hook.wait_for(1, LEDGER_WAIT_SECS)]
        assert (delivered["type"], delivered["request"]["id"]) == ("request.unseen", request_id)
        assert len(mailbox.messages) == 1
