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
from pathlib import Path

import httpx

from tests.faults.load import assert_exactly_once, percentile, record_fault, run_until_delivered
from tests.integration.harness.nginx import Nginx

from .conftest import wait_for_node
from .service import ClusterService, fault_name
from .swarm import closes_of, connect_rate, failures_of, moved_after

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
        closes = closes_of(clients)
        closed = ",".join(f"{code}:{count}" for code, count in sorted(closes.items(), key=str))
        tally = record_fault(f"{name} stopped_in={stops} others_p99={others} closes={closed}", publisher, clients)
        served = front.upstream_counts()
    finally:
        front.stop()
        service.close()
    assert len(windows) == 3, f"the roll stopped after {len(windows)} instances"
    assert closes[1001] >= len(clients) and set(closes) == {1001}, f"not every stop drained with 1001: {closes}"
    assert sorted(served) == sorted(f"127.0.0.1:{i.port}" for i in service.instances), served
    assert publisher.refused == []
    assert tally.batched > 0
    assert_exactly_once(tally)
    assert sum(client.out_of_order for client in clients) == 0


def moved_after_window(clients, sent: float, stopped: float) -> list[float]:
    """Return the seconds from `sent` until each socket closed by that stop had resumed elsewhere (0 if none)."""
    closed = [c for c in clients if any(sent <= at <= stopped + 1 for at in c.closed_at)]
    return moved_after(closed, sent) or [0.0]


class Takeover:
    """A SIGKILL of `victim` and what its survivors took: when, how fast, how many connects they shed, at what cost."""

    def __init__(self, victim, survivors, clients, moved):
        self.victim, self.survivors, self.clients, self.moved = victim, survivors, clients, moved
        self.killed_at: float | None = None
        self.recovered: float | None = None
        self.victim_rss_mib = 0.0
        self._sheds_before = (0, 0.0)
        self._failures_before = failures_of(clients)

    async def sheds(self) -> tuple[int, float]:
        """Return the 1013s the clients saw and the connects the survivors' /metrics count as shed."""
        servers = await asyncio.gather(*(asyncio.to_thread(shed_count, s) for s in self.survivors))
        return sum(c.sheds for c in self.clients), sum(servers)

    async def kill_after(self, seconds: float) -> None:
        """SIGKILL the victim after `seconds`, then wait until every socket it held has resumed elsewhere."""
        await asyncio.sleep(seconds)
        self._sheds_before = await self.sheds()
        self._failures_before = failures_of(self.clients)
        self.victim_rss_mib = rss_mib(self.victim.pid)
        self.killed_at = time.monotonic()
        await asyncio.to_thread(self.victim.kill)
        deadline = time.monotonic() + RECOVERY_SECS
        while not all(client.resumed_at[-1] > self.killed_at for client in self.moved):
            assert time.monotonic() < deadline, f"{self.victim.name}'s sockets did not all resume elsewhere"
            await asyncio.sleep(0.25)
        self.recovered = time.monotonic() - self.killed_at

    async def detail(self) -> tuple[str, int, float]:
        """Return the FAULT line's detail, and the 1013s clients and servers counted since the kill."""
        clients, servers = await self.sheds()
        clients, servers = clients - self._sheds_before[0], servers - self._sheds_before[1]
        resumes, peak = connect_rate(self.moved, self.killed_at)
        survivors_rss = "/".join(f"{rss_mib(s.pid):.0f}" for s in self.survivors)
        failed = failures_of(self.clients) - self._failures_before
        failed_connects = ",".join(f"{kind}:{count}" for kind, count in sorted(failed.items()))
        line = (
            f"moved={resumes} connects_per_sec={resumes / self.recovered:.0f} peak={peak}/s "
            f"sheds_1013={clients} (servers {servers:.0f}) victim_rss={self.victim_rss_mib:.0f}MiB "
            f"survivors_rss={survivors_rss}MiB failed_connects={failed_connects}"
        )
        return line, clients, servers


def rss_mib(pid: int) -> float:
    """Return the resident memory of process `pid` in MiB (0 when it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1)) / 1024


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
    per_user = {instance: CRASH_SOCKETS[instance.name] for instance in service.instances}
    cpu_before, opened_at = time.process_time(), time.monotonic()
    clients = await service.open_clients(per_user, moves_to=lambda t, n: lambda: t if t.is_running else (b, c)[n % 2])
    opened = f"opened_in={time.monotonic() - opened_at:.1f}s open_cpu={time.process_time() - cpu_before:.1f}s"
    takeover = Takeover(a, [b, c], clients, moved=clients[: CRASH_USERS * CRASH_SOCKETS["A"]])
    publisher = service.publisher(count=160, rate=8, retries=3)

    await run_until_delivered(publisher, clients, takeover.kill_after(5), timeout=180)
    assert takeover.recovered is not None, "the kill did not finish"
    detail, shed_seen, shed_counted = await takeover.detail()
    name = fault_name("SIGKILL of A with 1,000 sockets", [takeover.recovered], clients, publisher)
    cost = f"test_process_cpu={time.process_time() - cpu_before:.0f}s"
    tally = record_fault(f"{name} {opened} {detail} {cost}", publisher, clients)
    service.close()
    assert publisher.refused == []
    assert tally.batched > 0
    assert_exactly_once(tally)
    assert sum(client.out_of_order for client in clients) == 0
    assert shed_seen > 0 and shed_counted > 0, f"B and C shed nothing ({shed_seen} 1013s seen, {shed_counted} counted)"
