"""Presence across instances: every instance's sockets count, a killed instance's stop counting in bounded time."""

import asyncio
import time

from .harness import UserSession, recv_json
from .presence_client import per_instance, wait_for_presence

PASSWORD = "correct-horse-battery"
TIMEOUT_SECS = 3


def two_instances(deployment):
    env = {"NOTIFY_PRESENCE_TIMEOUT_SECS": str(TIMEOUT_SECS)}
    a, b = deployment.instance("A", env=env), deployment.instance("B", env=env)
    deployment.create_user("ada", PASSWORD)
    deployment.create_user("boss", PASSWORD, staff=True)
    return a, b, UserSession(a, "ada", PASSWORD).login(), UserSession(a, "boss", PASSWORD).login()


async def open_sockets(session, instances):
    sockets = await asyncio.gather(*(session.websocket(instance=i) for i in instances))
    welcomes = await asyncio.gather(*(recv_json(ws) for ws in sockets))
    assert all(w["type"] == "welcome" for w in welcomes)
    return sockets


async def test_sockets_on_both_instances_count_and_a_killed_instance_stops_counting(deployment):
    """ada online on A and B; after SIGKILL of B only A's socket counts, within the presence timeout."""
    a, b, ada, staff = two_instances(deployment)
    on_a, on_b = await open_sockets(ada, [a, b])
    snapshot = await wait_for_presence(staff, lambda s: s["connections"] == 2, timeout=10)
    assert per_instance(snapshot) == {"A": 1, "B": 1}
    assert [u["username"] for u in snapshot["users"]] == ["ada"] and snapshot["online_users"] == 1

    b.kill()
    killed = time.monotonic()
    snapshot = await wait_for_presence(staff, lambda s: per_instance(s) == {"A": 1}, timeout=TIMEOUT_SECS + 10)
    assert time.monotonic() - killed < TIMEOUT_SECS + 3, "stale rows counted past the timeout and one heartbeat"
    assert snapshot["users"][0]["connections"][0]["instance"] == "A"
    await on_a.close()


async def test_the_count_is_right_under_churn(deployment):
    """Forty sockets open at once over two instances, half close at once, then the rest: the count follows."""
    a, b, ada, staff = two_instances(deployment)
    sockets = await open_sockets(ada, [a, b] * 20)
    await wait_for_presence(staff, lambda s: per_instance(s) == {"A": 20, "B": 20}, timeout=15)
    await asyncio.gather(*(ws.close() for ws in sockets[:20]))
    await wait_for_presence(staff, lambda s: per_instance(s) == {"A": 10, "B": 10}, timeout=15)
    reopened = await open_sockets(ada, [b] * 5)
    await asyncio.gather(*(ws.close() for ws in sockets[20:]))
    snapshot = await wait_for_presence(staff, lambda s: s["connections"] == 5, timeout=15)
    assert per_instance(snapshot) == {"B": 5}
    await asyncio.gather(*(ws.close() for ws in reopened))
    await wait_for_presence(staff, lambda s: s["connections"] == 0, timeout=15)
