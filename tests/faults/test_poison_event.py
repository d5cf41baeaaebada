"""A poison event forced into the outbox, past every check: given up on, and nothing behind it stalls."""

import asyncio
import json
import re
import time

import httpx

from tests.integration.harness import recv_json, recv_until

from .load import FAULT_LINES

FAILED_WITHIN_SECS = 30
# In one manage.py process (no hub: the event stays pending), one transaction: the
# sweeps of A and B first see the event already poisoned.
POISON_SCRIPT = """
import json, os
from django.contrib.auth import get_user_model
from django.db import transaction
from notifications.store import actions
from tests import poison
with transaction.atomic():
    _, event = actions.do_create_request(get_user_model().objects.get(username="ada"), "Poison")
    poison.force_payload(event.position, poison.poison_text())
print(json.dumps({"id": str(event.id), "position": event.position}))
"""
STATE_SCRIPT = """
import json, os
from notifications.models import Event
row = Event.objects.filter(id=os.environ["POISON_ID"]).values("fanout_failed_at", "fanout_error", "fanned_out_at").get()
print(json.dumps({key: str(value) if value is not None else None for key, value in row.items()}))
"""


def force_poison_event(deployment) -> dict:
    return json.loads(deployment.manage("shell", "--no-imports", "-c", POISON_SCRIPT).splitlines()[-1])


def outbox_state(deployment, event_id: str) -> dict:
    env = deployment.env(POISON_ID=event_id)
    return json.loads(deployment.manage("shell", "--no-imports", "-c", STATE_SCRIPT, env=env).splitlines()[-1])


async def wait_until_failed(deployment, event_id: str) -> dict:
    deadline = time.monotonic() + FAILED_WITHIN_SECS
    while (state := await asyncio.to_thread(outbox_state, deployment, event_id))["fanout_failed_at"] is None:
        assert time.monotonic() < deadline, f"the outbox never gave up on the poison event: {state}"
        await asyncio.sleep(0.5)  # the sweeps run every second, in other processes: nothing to await here
    return state


def failed_metric(instance) -> float:
    with httpx.Client(base_url=instance.url, trust_env=False) as http:
        body = http.get("/metrics").text
    match = re.search(r"^notify_events_failed_total (\S+)$", body, re.MULTILINE)
    assert match, "notify_events_failed_total is not in /metrics"
    return float(match.group(1))


STATE_OF_LATER_SCRIPT = """
import json, os
from notifications.models import Event
ids = json.loads(os.environ["LATER_IDS"])
print(json.dumps(Event.objects.filter(id__in=ids, fanned_out_at__isnull=False).count()))
"""


def fanned_out_count(deployment, event_ids: list[str]) -> int:
    env = deployment.env(LATER_IDS=json.dumps(event_ids))
    return json.loads(deployment.manage("shell", "--no-imports", "-c", STATE_OF_LATER_SCRIPT, env=env).splitlines()[-1])


def publish_progress(publisher, request_id: str, steps=(20, 40, 60)) -> list[str]:
    """Publish status events over REST; return their ids."""
    ids = []
    for progress in steps:
        answer = publisher.post_json(
            "/api/v1/events/", {"request": request_id, "status": "processing", "progress": progress}
        )
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["id"])
    return ids


def create_request(publisher) -> str:
    created = publisher.post_json("/api/v1/requests/", {"title": "Payroll", "user": "ada"})
    assert created.status_code == 201, created.text
    return created.json()["id"]


async def test_the_outbox_gives_up_on_a_poison_event_once_and_sends_the_events_after_it(service):
    """Forced past every check, the event is marked failed, counted and logged once by id; later ones are sent."""
    with service.publisher(service.a) as publisher:
        request_id = create_request(publisher)
        poison = await asyncio.to_thread(force_poison_event, service.deployment)
        later = publish_progress(publisher, request_id)
        state = await wait_until_failed(service.deployment, poison["id"])
    assert state["fanned_out_at"] is None and "cannot be" in state["fanout_error"]
    assert await asyncio.to_thread(fanned_out_count, service.deployment, later) == len(later)
    assert failed_metric(service.a) + failed_metric(service.b) == 1
    logs = service.a.log_path.read_text() + service.b.log_path.read_text()
    assert len(re.findall(rf"outbox gave up on event {poison['id']}", logs)) == 1
    assert "\\ud800" not in logs and "0" * 100 not in logs, "the payload was logged"


async def test_events_after_a_poison_event_arrive_on_a_live_socket(service, request):
    """A socket on B, live before the poison event was forced in, gets every event published after it, in order."""
    ada = service.session("ada", service.a)
    with service.publisher(service.a) as publisher:
        request_id = create_request(publisher)
        async with ada.websocket(instance=service.b) as ws:
            welcome = await recv_json(ws)
            await ws.send(json.dumps({"type": "resume", "cursor": welcome["cursor"]}))
            await recv_until(ws, lambda frame: frame["type"] == "replayed")
            poison = await asyncio.to_thread(force_poison_event, service.deployment)
            later = publish_progress(publisher, request_id)
            arrived = [(await recv_until(ws, lambda f: f.get("id") in later, timeout=15))["id"] for _ in later]
            assert arrived == later, "the events after the poison one did not all arrive, in order"
            await wait_until_failed(service.deployment, poison["id"])
    listing = ada.get("/api/v1/notifications/")
    FAULT_LINES.append(
        f"FAULT poison event: later events delivered live; GET /api/v1/notifications/ answered {listing.status_code}"
    )
    ada.close()
