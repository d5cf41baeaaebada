"""Broker nodes of a three-node cluster crash, restart or go silent under continuous publishing and 360 sockets.

Three daphne instances list all three nodes, each starting on a different
one (A: 1,2,3; B: 2,3,1; C: 3,1,2). Events are published through all three
at a fixed rate, single events and batches, while nodes are SIGKILLed,
restarted one by one, or cut off silently; every client must see every
event of its stream exactly once, and each instance must move to a live node.
"""

import asyncio
import time

from tests.faults.load import assert_exactly_once, record_fault, run_until_delivered
from tests.integration.harness import TcpProxy

from .conftest import wait_for_node
from .service import ClusterService, fault_name

SOCKETS_PER_INSTANCE = 4  # per user: 30 users x 3 instances x 4 = 360 sockets
RECOVERY_SECS = 45.0


async def open_everywhere(service: ClusterService):
    return await service.open_clients({instance: SOCKETS_PER_INSTANCE for instance in service.instances})


async def test_instances_move_off_crashed_nodes_and_no_socket_loses_or_repeats_an_event(cluster_deployment, cluster):
    """Node 1 (A's) is SIGKILLed, then node 2 (now A's and B's): both move on; 360 sockets each get every event once."""
    service = ClusterService(cluster_deployment, cluster)
    a, b, c = service.instances
    node1, node2, node3 = cluster.nodes
    for instance, node in zip(service.instances, cluster.nodes, strict=True):
        await wait_for_node(instance, node, timeout=RECOVERY_SECS)
    publisher = service.publisher(count=240, rate=8)
    clients = await open_everywhere(service)
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
    assert tally.batched > 0
    assert_exactly_once(tally)
    assert sum(client.out_of_order for client in clients) == 0
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
    publisher = service.publisher(count=420, rate=7)
    clients = await open_everywhere(service)
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
    assert tally.batched > 0
    assert_exactly_once(tally)
    assert sum(client.out_of_order for client in clients) == 0


async def test_a_silently_partitioned_node_is_left_by_its_instance_and_nothing_is_lost(cluster_deployment, cluster):
    """Every link to node 1 goes through a proxy that stops forwarding (no reset, no close): A, on node 1,
    notices by its probe, moves to node 2 and catches its sockets up; B and C stay; 360 sockets get each event once.
    """
    node1, node2, node3 = cluster.nodes
    with TcpProxy("127.0.0.1", node1.amqp_port) as proxy:
        via_proxy = proxy.url_through(node1.url)
        orders = [
            (via_proxy, node2.url, node3.url),
            (node2.url, node3.url, via_proxy),
            (node3.url, via_proxy, node2.url),
        ]
        service = ClusterService(cluster_deployment, cluster, urls=[",".join(order) for order in orders])
        a, b, c = service.instances
        await wait_for_node(a, f"127.0.0.1:{proxy.port}", timeout=RECOVERY_SECS)
        await asyncio.gather(*(wait_for_node(i, n, timeout=RECOVERY_SECS) for i, n in ((b, node2), (c, node3))))
        publisher = service.publisher(count=240, rate=8)
        clients = await open_everywhere(service)
        recovered: list[float] = []

        async def partition() -> None:
            await asyncio.sleep(6)
            stalled_at = time.monotonic()
            await asyncio.to_thread(proxy.stall)
            await wait_for_node(a, node2, timeout=RECOVERY_SECS)
            recovered.append(time.monotonic() - stalled_at)

        await run_until_delivered(publisher, clients, partition(), timeout=150)
        tally = record_fault(fault_name("cluster node silent partition (A)", recovered, clients), publisher, clients)
        service.close()
        assert recovered, "A never moved off the partitioned node"
        assert publisher.refused == []
        assert tally.batched > 0
        assert_exactly_once(tally)
        assert sum(client.out_of_order for client in clients) == 0
        await asyncio.gather(*(wait_for_node(i, n, timeout=5) for i, n in ((b, node2), (c, node3))))
