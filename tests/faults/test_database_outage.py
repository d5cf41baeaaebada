"""The database goes away under one instance while services publish through it (PostgreSQL only)."""

import asyncio
import json
import os
import time
import urllib.parse

import pytest

from tests.integration.harness import TokenClient, UserSession

from .load import (
    Accepted,
    Client,
    Publisher,
    assert_exactly_once,
    create_request,
    create_users,
    record_fault,
    run_until_delivered,
    wait_for_readiness,
)

pytestmark = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")),
    reason="needs DATABASE_URL=postgres://...: an SQLite file cannot be cut off through a TCP proxy",
)

USERS = ("ada", "bob")
PASSWORD = "db-outage-password"
# Longer than the connection pool's 10 s wait (project/settings.py): shorter outages are
# ridden out by requests waiting for a connection, so they answer 202, only late.
OUTAGE_SECS = 13.0
CONSISTENCY_SCRIPT = """
import json
from notifications.models import Event, StreamHead, TrackedRequest
report = {"requests": {}, "streams": {}}
for tracked in TrackedRequest.objects.all():
    last = tracked.events.order_by("position").last()
    report["requests"][str(tracked.id)] = {
        "status": tracked.status, "progress": tracked.progress,
        "last_event": [last.payload["request"]["status"], last.payload["request"]["progress"]],
    }
for head in StreamHead.objects.select_related("user"):
    events = Event.objects.filter(user=head.user).order_by("seq")
    name = head.user.username if head.user else None
    report["streams"][name or "announcements"] = {
        "last_seq": head.last_seq, "seqs": [e.seq for e in events],
        "ids": {str(e.id): name for e in events},
    }
print(json.dumps(report))
"""


def stored_state(deployment) -> dict:
    """Read requests, events and stream heads straight from the database."""
    return json.loads(deployment.manage("shell", "--no-imports", "-c", CONSISTENCY_SCRIPT).splitlines()[-1])


async def test_publishing_while_the_database_is_unreachable_answers_503_and_writes_nothing_half(deployment, make_proxy):
    """A's database link is reset for 13 s under load: 503s then, every 202 has its event, streams stay gapless."""
    database = urllib.parse.urlsplit(deployment.database_url)
    proxy = make_proxy(database.hostname, database.port or 5432)
    a = deployment.instance("A", env={"DATABASE_URL": proxy.url_through(deployment.database_url)})
    b = deployment.instance("B")
    create_users(deployment, list(USERS), PASSWORD)
    token = deployment.create_service_token("worker", "publish", "broadcast")
    via_a, via_b = TokenClient(a, token, timeout=30), TokenClient(b, token)  # past the pool's 10 s wait
    requests = {create_request(via_b, user, f"{user} payroll {n}"): user for user in USERS for n in range(2)}
    publisher = Publisher([via_a], requests, count=100, rate=10)
    sessions = {user: UserSession(b, user, PASSWORD).login() for user in USERS}
    clients = [Client(sessions[user], lambda i=i: i) for user in USERS for i in (a, b, b)]
    await asyncio.gather(*(client.open() for client in clients))
    cut_for: list[float] = []

    async def cut_the_database() -> None:
        await asyncio.sleep(2)
        await asyncio.to_thread(proxy.cut)
        started = time.monotonic()
        try:  # /readyz answers within its own check timeout, so 15 s is plenty
            await wait_for_readiness(a, ready=False, timeout=15)
            await asyncio.sleep(max(0.0, OUTAGE_SECS - (time.monotonic() - started)))
        finally:  # a failed check must not leave the database cut for the rest of the test
            await asyncio.to_thread(proxy.restore)
        cut_for.append(time.monotonic() - started)
        await wait_for_readiness(a, ready=True, timeout=30)

    await run_until_delivered(publisher, clients, cut_the_database(), timeout=90)
    state = stored_state(deployment)

    answered = {accepted.id for accepted in publisher.accepted}
    stored = {event_id: owner for stream in state["streams"].values() for event_id, owner in stream["ids"].items()}
    unanswered = set(stored) - answered - _stored_before(state, publisher)
    assert publisher.refused, "no publish met the outage; lengthen the cut"
    assert all(" 503 " in refusal for refusal in publisher.refused), publisher.refused
    assert answered <= set(stored), "a 202 answer whose event is not stored"
    assert len(unanswered) <= len(publisher.refused), "more stored events than lost answers"
    for name, stream in state["streams"].items():
        assert stream["seqs"] == list(range(1, stream["last_seq"] + 1)), f"{name}'s stream has a gap or a stray head"
    for request_id, tracked in state["requests"].items():
        assert [tracked["status"], tracked["progress"]] == tracked["last_event"], f"request {request_id} half-written"

    # An event whose commit went through but whose answer was lost is still everyone's to receive.
    publisher.accepted += [Accepted(event_id, stored[event_id], time.monotonic()) for event_id in unanswered]
    deadline = time.monotonic() + 30
    has_all = lambda c: publisher.expected_for(c.username) <= set(c.follower.ids)  # noqa: E731
    await asyncio.gather(*(client.follow(has_all, deadline) for client in clients))
    await asyncio.gather(*(client.settle() for client in clients))
    tally = record_fault(f"database cut {cut_for[0]:.0f} s (503s: {len(publisher.refused)})", publisher, clients)
    assert_exactly_once(tally)
    for client in (via_a, via_b):
        client.close()


def _stored_before(state: dict, publisher: Publisher) -> set[str]:
    """Return the events that existed before publishing began: each request's `queued` event."""
    queued = set()
    for stream_name, stream in state["streams"].items():
        if stream_name in USERS:
            queued |= set(list(stream["ids"])[:2])
    return queued
