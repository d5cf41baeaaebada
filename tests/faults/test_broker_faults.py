"""Broker faults under continuous publishing: a cut, a broker absent at start, a silent partition.

Each test runs two daphne instances on the real broker, publishes a bounded
stream of events at a fixed rate through both while the fault happens, and
checks that every event reaches every client (sockets on both instances,
resuming on reconnect) exactly once. test_broker_outage.py has the simpler,
quiet versions of these faults.
"""

import asyncio
import time

import pytest

from tests.integration.conftest import Service

from .load import Client, Publisher, assert_exactly_once, create_request, record_fault, run_until_delivered
from .load import wait_for_readiness as readiness

USERS = ("ada", "bob")
NOTICE_SECS = 15.0
RECOVERY_SECS = 40.0


async def start_clients(service: Service, layout: dict[str, list]) -> list[Client]:
    """Open one resuming socket per (user, instance) in `layout`."""
    sessions = {username: service.session(username) for username in layout}
    clients = [
        Client(sessions[user], lambda i=instance: i) for user, instances in layout.items() for instance in instances
    ]
    await asyncio.gather(*(client.open() for client in clients))
    return clients


def publisher_for(service: Service, count: int, rate: float) -> Publisher:
    """A publisher through both instances, for two requests of each user (created now: open sockets after)."""
    via_a, via_b = service.publisher(service.a), service.publisher(service.b)
    requests = {create_request(via_a, user, f"{user} job {n}"): user for user in USERS for n in range(2)}
    return Publisher([via_a, via_b], requests, count=count, rate=rate)


@pytest.mark.parametrize("scope", ["instance-a", "both-instances"])
async def test_a_broker_cut_during_continuous_publishing_loses_and_repeats_nothing(deployment, broker_proxy, scope):
    """The broker link is reset for 5 s while 120 events are published through A and B: each arrives once.

    `instance-a` cuts only A's link (B keeps fanning out live, A's sockets catch
    up and B's outbox sweep sends what A stored); `both-instances` cuts the
    whole service off the broker.
    """
    through_proxy = {"amqp_url": broker_proxy.url_through(deployment.amqp_url)}
    service = Service(deployment, a=through_proxy, b=through_proxy if scope == "both-instances" else {})
    publisher = publisher_for(service, count=120, rate=12)
    clients = await start_clients(service, {u: [service.a, service.a, service.b] for u in USERS})

    async def cut_for_five_seconds() -> None:
        await asyncio.sleep(2)
        await asyncio.to_thread(broker_proxy.cut)
        cut_at = time.monotonic()
        await readiness(service.a, ready=False, timeout=NOTICE_SECS)
        await asyncio.sleep(max(0.0, 5 - (time.monotonic() - cut_at)))
        await asyncio.to_thread(broker_proxy.restore)
        await readiness(service.a, ready=True, timeout=RECOVERY_SECS)

    await run_until_delivered(publisher, clients, cut_for_five_seconds(), timeout=90)
    tally = record_fault(f"broker cut 5 s ({scope})", publisher, clients)
    assert publisher.refused == []
    assert_exactly_once(tally)


async def test_an_instance_started_without_a_broker_heals_live_fan_out_by_itself(deployment, broker_proxy):
    """A starts while the broker is unreachable, under load; once it is back, live events flow without a restart.

    Events published before recovery come from the database (resume, outbox,
    catch-up); those published well after it must arrive live, within a
    second or so, not at the 5 s heads check.
    """
    broker_proxy.cut()
    service = Service(deployment, a={"amqp_url": broker_proxy.url_through(deployment.amqp_url)})
    await readiness(service.a, ready=False, timeout=NOTICE_SECS)
    publisher = publisher_for(service, count=150, rate=10)
    clients = await start_clients(service, {u: [service.a, service.a, service.b] for u in USERS})
    recovered: list[float] = []

    async def bring_the_broker_back() -> None:
        await asyncio.sleep(5)
        await asyncio.to_thread(broker_proxy.restore)
        await readiness(service.a, ready=True, timeout=RECOVERY_SECS)
        recovered.append(time.monotonic())

    await run_until_delivered(publisher, clients, bring_the_broker_back(), timeout=90)
    tally = record_fault("broker unreachable at start", publisher, clients)
    assert publisher.refused == []
    assert_exactly_once(tally)
    assert recovered, "A never became ready"
    live = [
        client.follower.arrived_at[a.id] - a.answered_at
        for client in clients[::3]  # the first socket of each user, on A
        for a in publisher.accepted
        if a.answered_at > recovered[0] + 1 and a.id in client.follower.arrived_at
    ]
    assert live, "nothing was published after recovery; lengthen the run"
    assert sorted(live)[len(live) // 2] < 1.5, f"after recovery A's sockets got events late (median of {live})"


async def test_a_silent_partition_is_noticed_in_seconds_and_loses_nothing(deployment, broker_proxy):
    """A's broker link stops forwarding (no reset) while events flow: /readyz says 503 within 15 s, then all arrive."""
    service = Service(deployment, a={"amqp_url": broker_proxy.url_through(deployment.amqp_url)})
    publisher = publisher_for(service, count=120, rate=10)
    clients = await start_clients(service, {u: [service.a, service.a, service.b] for u in USERS})
    noticed: list[float] = []

    async def stall_then_resume() -> None:
        await asyncio.sleep(2)
        await asyncio.to_thread(broker_proxy.stall)
        noticed.append(await readiness(service.a, ready=False, timeout=20))
        await asyncio.sleep(3)
        await asyncio.to_thread(broker_proxy.resume_forwarding)
        await readiness(service.a, ready=True, timeout=RECOVERY_SECS)

    await run_until_delivered(publisher, clients, stall_then_resume(), timeout=90)
    tally = record_fault("silent partition", publisher, clients)
    assert noticed and noticed[0] < NOTICE_SECS, f"the partition was noticed after {noticed}s"
    assert publisher.refused == []
    assert_exactly_once(tally)
