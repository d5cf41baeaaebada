"""A finished request nobody saw: one e-mail over real SMTP and one signed `request.unseen` webhook to the
service that published it, from whichever instance survives; none once read; never from two instances."""

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass

import pytest

from .conftest import Service
from .harness import connect_ws, recv_json, recv_until
from .harness.mail import Mailbox, smtp_server
from .harness.webhooks import WebhookReceiver, verify

UNSEEN_AFTER_SECS = 3
# The window, two escalation polls, a webhook poll and slack for a loaded machine.
MAIL_WAIT_SECS = UNSEEN_AFTER_SECS + 15
# Two more escalation polls and a webhook retry's worth: nothing is sent twice.
QUIET_SECS = 4
PUBLISHER_SECRET = "worker-webhook-secret"
# ada gets an address; the publishing service ("worker", made by Service) and a service that publishes
# nothing ("other") each get their own request.unseen endpoint; an operator's endpoint takes connection events.
SETUP_SCRIPT = """
import json, os
from django.contrib.auth import get_user_model
from django.core.management import call_command
from notifications.models import ServiceClient
from notifications.store import service_tokens
worker_url, other_url, operator_url, secret = json.loads(os.environ["UNSEEN_TEST_HOOKS"])
get_user_model().objects.filter(username="ada").update(email="ada@example.com")
service_tokens.issue_token(ServiceClient(name="other", can_publish=True))
call_command("create_webhook", worker_url, "--secret", secret, "--service", "worker")
call_command("create_webhook", other_url, "--secret", "other-secret", "--service", "other")
call_command("create_webhook", operator_url, "--secret", "operator-secret")
"""


@dataclass
class Escalating:
    service: Service
    mailbox: Mailbox
    publisher_hook: WebhookReceiver
    other_hook: WebhookReceiver
    operator_hook: WebhookReceiver

    def unseen_bodies(self, timeout: float, count: int) -> list[dict]:
        """Wait for `count` POSTs to the publishing service's endpoint; return their bodies, signatures checked."""
        return [verify(PUBLISHER_SECRET, request) for request in self.publisher_hook.wait_for(count, timeout)]

    def assert_nothing_unseen_elsewhere(self) -> None:
        """The service that published nothing got nothing; the operator's endpoint got no request.unseen."""
        assert self.other_hook.received() == []
        operator_types = {request["headers"]["X-Notify-Event"] for request in self.operator_hook.received()}
        assert "request.unseen" not in operator_types


@pytest.fixture
def escalating(make_deployment) -> Escalating:
    with (
        smtp_server() as mailbox,
        WebhookReceiver() as publisher_hook,
        WebhookReceiver() as other_hook,
        WebhookReceiver() as operator_hook,
    ):
        env = {
            "NOTIFY_UNSEEN_AFTER_SECS": str(UNSEEN_AFTER_SECS),
            "EMAIL_URL": mailbox.email_url,
            "NOTIFY_WEBHOOK_FIRST_RETRY_SECS": "1",
        }
        service = Service(make_deployment(extra_env=env))
        hooks = json.dumps([publisher_hook.url, other_hook.url, operator_hook.url, PUBLISHER_SECRET])
        setup_env = service.deployment.env(UNSEEN_TEST_HOOKS=hooks)
        service.deployment.manage("shell", "--no-imports", "-c", SETUP_SCRIPT, env=setup_env)
        yield Escalating(service, mailbox, publisher_hook, other_hook, operator_hook)


def _finish(publisher, title: str, status: str = "succeeded") -> tuple[str, str]:
    """Create a request for ada and finish it; return its id and the terminal event's id."""
    answer = publisher.post_json("/api/v1/requests/", {"title": title, "user": "ada"})
    assert answer.status_code == 201, answer.text
    request_id = answer.json()["id"]
    answer = publisher.post_json("/api/v1/events/", {"request": request_id, "status": status})
    assert answer.status_code == 202, answer.text
    return request_id, answer.json()["id"]


def test_an_unseen_finished_request_is_mailed_and_webhooked_once_even_when_the_instance_that_stored_it_died(
    escalating,
):
    """Stored through A, A is SIGKILLed at once; B sends one mail with the link and one signed webhook per request."""
    service, box = escalating.service, escalating.mailbox
    outcomes = [("Quarterly report", "succeeded"), ("Import", "failed")]
    with service.publisher(service.a) as publisher:
        finished = [(*_finish(publisher, title, status), title, status) for title, status in outcomes]
    service.a.kill()

    messages = box.wait_for(2, MAIL_WAIT_SECS)
    bodies = escalating.unseen_bodies(MAIL_WAIT_SECS, 2)
    time.sleep(QUIET_SECS)

    assert len(box.messages) == 2, [m["Subject"] for m in box.messages]
    assert sorted(m["Subject"] for m in messages) == ["Import failed", "Quarterly report succeeded"]
    assert {m["To"] for m in messages} == {"ada@example.com"}
    mail_text = " ".join(m.get_content() for m in messages)
    assert all(f"/requests/{request_id}/" in mail_text for request_id, *_ in finished)
    assert len(escalating.publisher_hook.received()) == 2
    by_request = {body["request"]["id"]: body for body in bodies}
    for request_id, event_id, title, status in finished:
        body = by_request[request_id]
        assert body["type"] == "request.unseen"
        assert (body["request"]["title"], body["request"]["status"]) == (title, status)
        assert body["terminal_event"]["id"] == event_id
        assert body["owner"] == {"id": service.ada_id, "username": "ada"}
    assert "ada@example.com" not in json.dumps(bodies)
    escalating.assert_nothing_unseen_elsewhere()


async def test_a_request_read_in_time_sends_neither_mail_nor_webhook(escalating):
    """A tab that showed the terminal event (ack) within the window cancels both; another unread one sends both."""
    service, box = escalating.service, escalating.mailbox
    ada = service.session("ada", service.b)
    async with connect_ws(service.b, headers={"Cookie": ada.cookie_header()}) as ws:
        welcome = await recv_json(ws)
        await ws.send(json.dumps({"type": "resume", "cursor": welcome["cursor"]}))
        await recv_until(ws, lambda frame: frame["type"] == "replayed")
        with service.publisher(service.a) as publisher:
            _finish(publisher, "Seen report")
            terminal = await recv_until(
                ws, lambda frame: frame["type"] == "event" and frame["request"]["status"] == "succeeded"
            )
            await ws.send(json.dumps({"type": "ack", "id": terminal["id"]}))
            await recv_until(ws, lambda frame: frame["type"] == "read")
            unseen_id, _ = _finish(publisher, "Unseen report")

    messages = await asyncio.to_thread(box.wait_for, 1, MAIL_WAIT_SECS)
    bodies = await asyncio.to_thread(escalating.unseen_bodies, MAIL_WAIT_SECS, 1)
    await asyncio.sleep(QUIET_SECS)

    assert [m["Subject"] for m in box.messages] == ["Unseen report succeeded"], messages
    assert [body["request"]["id"] for body in bodies] == [unseen_id]
    assert len(escalating.publisher_hook.received()) == 1
    escalating.assert_nothing_unseen_elsewhere()


def test_two_live_instances_never_both_send(escalating):
    """Requests finished through both instances, both claiming every 2 s: each gets exactly one mail and one webhook."""
    service, box = escalating.service, escalating.mailbox
    titles = [f"Batch {number}" for number in range(12)]
    finished = {}
    for number, title in enumerate(titles):
        with service.publisher(service.a if number % 2 else service.b) as publisher:
            finished[_finish(publisher, title)[0]] = title

    box.wait_for(len(titles), MAIL_WAIT_SECS)
    escalating.unseen_bodies(MAIL_WAIT_SECS, len(titles))
    time.sleep(QUIET_SECS)

    subjects = Counter(m["Subject"] for m in box.messages)
    assert subjects == Counter(f"{title} succeeded" for title in titles)
    bodies = [verify(PUBLISHER_SECRET, request) for request in escalating.publisher_hook.received()]
    assert Counter(body["request"]["id"] for body in bodies) == Counter(list(finished))
    assert len({body["event_id"] for body in bodies}) == len(titles)
    escalating.assert_nothing_unseen_elsewhere()
    settled = {
        i.name: i.log_path.read_text(errors="replace").count("event=escalation.settled") for i in (service.a, service.b)
    }
    assert sum(settled.values()) == len(titles), settled
