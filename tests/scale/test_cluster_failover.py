"""Broker nodes of a three-node cluster crash or restart under continuous publishing and 360 resuming sockets.

Three daphne instances list all three nodes, each starting on a different
one (A: 1,2,3; B: 2,3,1; C: 3,1,2). Events are published through all three
at a fixed rate while nodes are SIGKILLed or restarted one by one; every
client must see every event of its stream exactly once, and each instance
must move to a live node.
"""

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

from tests.faults.load import (
    Client,
    Publisher,
    assert_exactly_once,
    create_request,
    create_users,
    record_fault,
    run_until_delivered,
)
from tests.integration.harness import TokenClient, UserSession

from .conftest import node_order, wait_for_node

USERS = 30
SOCKETS_PER_INSTANCE = 4  # per user: 30 x 3 x 4 = 360 sockets
PASSWORD = "cluster-test-password"
RECOVERY_SECS = 45.0


class ClusterService:
    """Three instances, each first on another node; users, one request each, and a publisher through all three."""

    def __init__(self, deployment, cluster):
        self.cluster = cluster
        self.instances = [
            deployment.instance(name, amqp_url=node_order(cluster, n), start=False)
            for n, name in enumerate(("A", "B", "C"))
        ]
        for instance in self.instances:  # started together: each start is mostly imports, on two cores
            instance.start()
        with ThreadPoolExecutor(len(self.instances)) as pool:
            list(pool.map(lambda instance: instance.wait_ready(), self.instances))
        self.names = [f"user{n}" for n in range(USERS)]
        create_users(deployment, self.names, PASSWORD)
        token = deployment.create_service_token("worker", "publish", "broadcast")
        self.tokens = [TokenClient(instance, token) for instance in self.instances]
        self.requests = {create_request(self.tokens[0], name, f"{name} import"): name for name in self.names}

    def publisher(self, count: int, rate: float) -> Publisher:
        return Publisher(self.tokens, self.requests, count=count, rate=rate)

    async def open_clients(self) -> list[Client]:
        """Sign every user in once, then open SOCKETS_PER_INSTANCE resuming sockets per user on each instance."""
        sessions = await asyncio.gather(
            *(asyncio.to_thread(UserSession(self.instances[0], name, PASSWORD).login) for name in self.names)
        )
        clients = [
            Client(session, lambda i=instance: i)
            for session in sessions
            for instance in self.instances
            for _ in range(SOCKETS_PER_INSTANCE)
        ]
        for start in range(0, len(clients), 60):  # in slices, so handshakes do not time out on two cores
            await asyncio.gather(*(client.open() for client in clients[start : start + 60]))
        return clients

    def close(self) -> None:
        for token in self.tokens:
            token.close()


def fault_name(title: str, recovered_secs, clients: list[Client]) -> str:
    """Return the FAULT line's name: the fault, each instance move's seconds, and the clients' reconnects."""
    secs = "/".join(f"{value:.1f}s" for value in recovered_secs)
    return f"{title} recovered_in={secs} socket_reconnects={sum(c.follower.reconnects for c in clients)}"


async def test_instances_move_off_crashed_nodes_and_no_socket_loses_or_repeats_an_event(cluster_deployment, cluster):
    """Node 1 (A's) is SIGKILLed, then node 2 (now A's and B's): both move on; 360 sockets each get every event once."""
    service = ClusterService(cluster_deployment, cluster)
    a, b, c = service.instances
    node1, node2, node3 = cluster.nodes
    for instance, node in zip(service.instances, cluster.nodes, strict=True):
        await wait_for_node(instance, node, timeout=RECOVERY_SECS)
    publisher = service.publisher(count=280, rate=8)
    clients = await service.open_clients()
    recovered: dict[str, float] = {}

    async def crash(node, movers, to) -> None:
        killed_at = time.monotonic()
        await asyncio.to_thread(node.kill)
        await asyncio.gather(*(wait_for_node(m, to, timeout=RECOVERY_SECS) for m in movers))
        recovered[node.name] = time.monotonic() - killed_at

    async def crash_two_nodes() -> None:
        await asyncio.sleep(6)
        await crash(node1, [a], to=node2)
        await asyncio.sleep(5)
        await crash(node2, [a, b], to=node3)

    await run_until_delivered(publisher, clients, crash_two_nodes(), timeout=150)
    name = fault_name("cluster node SIGKILL x2 (A, then A+B)", recovered.values(), clients)
    tally = record_fault(name, publisher, clients)
    service.close()
    assert len(recovered) == 2, f"only {recovered} recovered"
    assert publisher.refused == []
    assert_exactly_once(tally)
    await wait_for_node(c, node3, timeout=5)  # C never left its node


async def test_a_rolling_restart_of_every_node_moves_the_instances_along_and_loses_nothing(cluster_deployment, cluster):
    """Each node in turn is stopped (SIGTERM), its instances move to the next, it starts again; each event once.

    Node 1 goes first (A moves to 2), then node 2 (A and B move to 3), then
    node 3 (all three move to node 1, the first after 3 in each list).
    """
    service = ClusterService(cluster_deployment, cluster)
    a, b, c = service.instances
    node1, node2, node3 = cluster.nodes
    for instance, node in zip(service.instances, cluster.nodes, strict=True):
        await wait_for_node(instance, node, timeout=RECOVERY_SECS)
    publisher = service.publisher(count=490, rate=7)
    clients = await service.open_clients()
    moved: list[float] = []

    async def restart(node, movers, to) -> None:
        stopped_at = time.monotonic()
        await asyncio.to_thread(node.stop)
        await asyncio.gather(*(wait_for_node(m, to, timeout=RECOVERY_SECS) for m in movers))
        moved.append(time.monotonic() - stopped_at)
        await asyncio.to_thread(node.restart)

    async def roll() -> None:
        await asyncio.sleep(4)
        await restart(node1, [a], to=node2)
        await restart(node2, [a, b], to=node3)
        await restart(node3, [a, b, c], to=node1)

    await run_until_delivered(publisher, clients, roll(), timeout=200)
    tally = record_fault(fault_name("cluster rolling restart", moved, clients), publisher, clients)
    service.close()
    assert len(moved) == 3, f"the restart stopped after {len(moved)} nodes"
    assert publisher.refused == []
    assert_exactly_once(tally)
