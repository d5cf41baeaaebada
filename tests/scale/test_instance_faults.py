"""Daphne instances on the three-node cluster are stopped under load: a rolling SIGTERM behind nginx, a SIGKILL.

The three instances A, B and C each start on another node of the private
cluster. Events (single, batches, announcements) are published at a fixed
rate while instances go away; the publisher retries a POST whose instance
went away with the same Idempotency-Key, as a careful service does. Every
socket must see every event of its stream exactly once after it moved.
"""

import asyncio
import re
import time

import httpx

from tests.faults.load import assert_exactly_once, percentile, record_fault, run_until_delivered
from tests.integration.harness.nginx import Nginx

from .conftest import wait_for_node
from .service import ClusterService, fault_name
from .swarm import connect_rate, moved_after

RECOVERY_SECS = 60.0
ROLL_SOCKETS_PER_USER = 12  # through nginx: 30 users x 12 = 360 sockets, round-robin over A, B, C
CRASH_USERS = 40  # each sign-in hashes a password (about 0.5 s of CPU here): few users, many sockets each
CRASH_SOCKETS = {"A": 25, "B": 4, "C": 4}  # per user: 1,000 sockets on A, 160 each on B and C
CONNECTS_PER_SEC, CONNECT_BURST = 150, 50  # per instance: a reconnect storm of 1,000 is shed for some seconds


def shed_count(instance) -> float:
    """Return how many connects `instance` has shed (its /metrics, answered on loopback)."""
    text = httpx.get(instance.url + "/metrics", timeout=10, trust_env=False).text
    return sum(float(value) for value in re.findall(r"^notify_sockets_shed_total\{[^}]*\} (\S+)$", text, re.M))


def latencies_of_unmoved(publisher, clients, start: float, end: float) -> list[float]:
    """Return the latencies of events published in [start, end] to the sockets that were not moved meanwhile."""
    window = {a.id: a.answered_at for a in publisher.accepted if start <= a.answered_at <= end}
    unmoved = [c for c in clients if not any(start <= at <= end for at in c.closed_at)]
    return [max(0.0, c.arrived_at[i] - at) for c in unmoved for i, at in window.items() if i in c.arrived_at]


async def test_a_rolling_sigterm_of_every_instance_behind_nginx_moves_every_socket_and_loses_nothing(
    cluster_deployment, cluster, tmp_path
):
    """A, B, then C get SIGTERM and start again, one at a time, behind nginx's round-robin: each drains with
    1001, its sockets reconnect through nginx and resume elsewhere; 360 sockets get each event once.
    """
    service = ClusterService(cluster_deployment, cluster)
    for instance, node in zip(service.instances, cluster.nodes, strict=True):
        await wait_for_node(instance, node, timeout=RECOVERY_SECS)
    (tmp_path / "nginx").mkdir()
    front = Nginx(tmp_path / "nginx", service.instances, worker_connections=2048)
    try:
        publisher = service.publisher(count=330, rate=6, via=front, retries=5)
        clients = await service.open_clients({front: ROLL_SOCKETS_PER_USER})
        windows: list[tuple[str, float, float, float]] = []  # name, SIGTERM sent, stopped, ready again

        async def roll() -> None:
            await asyncio.sleep(5)
            for instance in service.instances:
                sent = time.monotonic()
                await asyncio.to_thread(instance.terminate)  # drains (1001 to every socket), then stops
                stopped = time.monotonic()
                await asyncio.to_thread(instance.start)
                await asyncio.to_thread(instance.wait_ready)
                await wait_for_node(instance, None, timeout=RECOVERY_SECS)
                windows.append((instance.name, sent, stopped, time.monotonic()))
                await asyncio.sleep(3)

        await run_until_delivered(publisher, clients, roll(), timeout=200)
        moved = [max(moved_after_window(clients, sent, stopped)) for _, sent, stopped, _ in windows]
        p99 = [percentile(latencies_of_unmoved(publisher, clients, sent, ready), 99) for _, sent, _, ready in windows]
        stops = "/".join(f"{stopped - sent:.1f}s" for _, sent, stopped, _ in windows)
        name = fault_name("rolling SIGTERM of A, B, C behind nginx", moved, clients, publisher)
        others = "/".join(f"{value:.2f}s" for value in p99)
        tally = record_fault(f"{name} stopped_in={stops} others_p99={others}", publisher, clients)
        served = front.upstream_counts()
    finally:
        front.stop()
        service.close()
    assert len(windows) == 3, f"the roll stopped after {len(windows)} instances"
    assert sorted(served) == sorted(f"127.0.0.1:{i.port}" for i in service.instances), served
    assert publisher.refused == []
    assert tally.batched > 0
    assert_exactly_once(tally)
    assert sum(client.out_of_order for client in clients) == 0


def moved_after_window(clients, sent: float, stopped: float) -> list[float]:
    """Return the seconds from `sent` until each socket closed by that stop had resumed elsewhere (0 if none)."""
    closed = [c for c in clients if any(sent <= at <= stopped + 1 for at in c.closed_at)]
    return moved_after(closed, sent) or [0.0]


async def test_sigkill_of_an_instance_with_1000_sockets_sends_them_to_the_others_at_their_connect_rate(
    cluster_deployment, cluster
):
    """A holds 1,000 sockets (B and C 160 each) and is SIGKILLed: its sockets reconnect to B and C, which shed
    connects past NOTIFY_MAX_CONNECTS_PER_SEC with 1013; they back off, retry and resume; each event once.
    """
    env = {"NOTIFY_MAX_CONNECTS_PER_SEC": str(CONNECTS_PER_SEC), "NOTIFY_CONNECT_BURST": str(CONNECT_BURST)}
    service = ClusterService(cluster_deployment, cluster, users=CRASH_USERS, env=env)
    a, b, c = service.instances
    for instance, node in zip(service.instances, cluster.nodes, strict=True):
        await wait_for_node(instance, node, timeout=RECOVERY_SECS)
    survivors = [b, c]
    per_user = {instance: CRASH_SOCKETS[instance.name] for instance in service.instances}
    opened_at = time.monotonic()
    clients = await service.open_clients(
        per_user, moves_to=lambda t, n: lambda: t if t.is_running else survivors[n % 2]
    )
    opened_in = time.monotonic() - opened_at
    on_a = clients[: CRASH_USERS * CRASH_SOCKETS["A"]]
    publisher = service.publisher(count=160, rate=8, retries=3)
    killed: dict[str, float] = {}

    async def kill_a() -> None:
        await asyncio.sleep(5)
        killed["sheds_before"] = sum(c.sheds for c in clients)
        killed["shed_by_survivors"] = sum(await asyncio.gather(*(asyncio.to_thread(shed_count, s) for s in survivors)))
        killed["at"] = time.monotonic()
        await asyncio.to_thread(a.kill)
        deadline = time.monotonic() + RECOVERY_SECS
        while not all(client.resumed_at[-1] > killed["at"] for client in on_a):
            assert time.monotonic() < deadline, "A's sockets did not all resume on B and C"
            await asyncio.sleep(0.25)
        killed["recovered"] = time.monotonic() - killed["at"]

    await run_until_delivered(publisher, clients, kill_a(), timeout=180)
    assert "recovered" in killed, f"the kill did not finish: {killed}"
    shed_after = sum(await asyncio.gather(*(asyncio.to_thread(shed_count, s) for s in survivors)))
    resumes, peak = connect_rate(on_a, killed["at"])
    sheds = {"clients": sum(c.sheds for c in clients) - killed["sheds_before"]}
    sheds["servers"] = shed_after - killed["shed_by_survivors"]
    detail = (
        f"opened_in={opened_in:.1f}s moved={resumes} connects_per_sec={resumes / killed['recovered']:.0f} "
        f"peak={peak}/s sheds_1013={sheds['clients']} (servers {sheds['servers']:.0f})"
    )
    name = fault_name("SIGKILL of A with 1,000 sockets", [killed["recovered"]], clients, publisher)
    tally = record_fault(f"{name} {detail}", publisher, clients)
    service.close()
    assert publisher.refused == []
    assert tally.batched > 0
    assert_exactly_once(tally)
    assert sum(client.out_of_order for client in clients) == 0
    assert sheds["servers"] > 0 and sheds["clients"] > 0, f"B and C shed nothing: {sheds}"
