"""A finished request nobody saw: one e-mail over real SMTP, from whichever instance survives, none once read."""

import asyncio
import email
import email.policy
import json
import threading
import time

import pytest
from aiosmtpd.controller import Controller

from .conftest import Service
from .harness import connect_ws, free_port, recv_json, recv_until

UNSEEN_AFTER_SECS = 3
# The window, two escalation polls and slack for a loaded machine.
MAIL_WAIT_SECS = UNSEEN_AFTER_SECS + 15
SET_EMAIL_SCRIPT = (
    "from django.contrib.auth import get_user_model; "
    "get_user_model().objects.filter(username='ada').update(email='ada@example.com')"
)


class Mailbox:
    """An SMTP server's handler that keeps every message it accepts."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.changed = threading.Event()

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        self.changed.set()
        return "250 OK"

    def wait_for(self, count: int, timeout: float) -> list:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            self.changed.wait(0.2)
            self.changed.clear()
        return list(self.messages)


@pytest.fixture
def mailbox():
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield box, controller.port
    controller.stop()


@pytest.fixture
def escalating(make_deployment, mailbox) -> tuple[Service, Mailbox]:
    box, port = mailbox
    deployment = make_deployment(
        extra_env={"NOTIFY_UNSEEN_AFTER_SECS": str(UNSEEN_AFTER_SECS), "EMAIL_URL": f"smtp://127.0.0.1:{port}"}
    )
    service = Service(deployment)
    deployment.manage("shell", "--no-imports", "-c", SET_EMAIL_SCRIPT)
    return service, box


def _finish(publisher, title: str, status: str = "succeeded") -> str:
    answer = publisher.post_json("/api/v1/requests/", {"title": title, "user": "ada"})
    assert answer.status_code == 201, answer.text
    request_id = answer.json()["id"]
    answer = publisher.post_json("/api/v1/events/", {"request": request_id, "status": status})
    assert answer.status_code == 202, answer.text
    return request_id


def test_an_unseen_finished_request_is_mailed_once_even_when_the_instance_that_stored_it_died(escalating):
    """Stored through A, A is SIGKILLed at once; B sends exactly one mail per request, with the link."""
    service, box = escalating
    with service.publisher(service.a) as publisher:
        ids = [_finish(publisher, "Quarterly report"), _finish(publisher, "Import", "failed")]
    service.a.kill()

    messages = box.wait_for(2, MAIL_WAIT_SECS)
    time.sleep(3)  # two more polls: nothing is sent twice

    assert len(box.messages) == 2, [m["Subject"] for m in box.messages]
    assert sorted(m["Subject"] for m in messages) == ["Import failed", "Quarterly report succeeded"]
    assert {m["To"] for m in messages} == {"ada@example.com"}
    bodies = " ".join(m.get_content() for m in messages)
    assert all(f"/requests/{request_id}/" in bodies for request_id in ids)


async def test_a_request_read_in_time_sends_no_mail(escalating):
    """A tab that showed the terminal event (ack) within the window cancels the mail; another unread one is sent."""
    service, box = escalating
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
            _finish(publisher, "Unseen report")

    messages = await asyncio.to_thread(box.wait_for, 1, MAIL_WAIT_SECS)
    await asyncio.sleep(UNSEEN_AFTER_SECS)

    assert [m["Subject"] for m in box.messages] == ["Unseen report succeeded"], messages
