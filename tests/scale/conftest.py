"""Fixtures for tests on a private three-node RabbitMQ cluster (marked `integration` and `scale`).

One cluster per test module (starting three nodes takes 20-30 s); each test
gets a fresh deployment whose instances list every node, each starting on
a different one. A test that crashes nodes leaves them down: the `cluster`
fixture starts them again before the next test.
"""

import asyncio
import shutil
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.faults.load import FAULT_LINES
from tests.integration.conftest import static_files  # noqa: F401  (a fixture, found by name)
from tests.integration.harness import Deployment
from tests.integration.harness.rabbit_cluster import SERVER, RabbitCluster, RabbitNode


@pytest.fixture(scope="module")
def rabbit_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitCluster]:
    """Start three private clustered nodes for this module; stop them (their own PIDs only) after it."""
    if shutil.which(SERVER) is None:
        pytest.fail(f"{SERVER} is missing: install the rabbitmq-server package (scripts/test does)")
    cluster = RabbitCluster(tmp_path_factory.mktemp("rabbit-cluster"))
    cluster.start()
    yield cluster
    cluster.close()


@pytest.fixture
def cluster(rabbit_cluster: RabbitCluster) -> RabbitCluster:
    """Return the module's cluster with every node running (nodes an earlier test crashed are restarted)."""
    for node in rabbit_cluster.nodes:
        if not node.running():
            node.restart()
    return rabbit_cluster


@pytest.fixture
def cluster_deployment(request, tmp_path_factory, cluster: RabbitCluster, static_files: None) -> Iterator[Deployment]:  # noqa: F811
    """Return a fresh deployment on the cluster (all its nodes listed); closed after the test, logs shown on failure."""
    deployment = Deployment(tmp_path_factory.mktemp("cluster-deployment"), amqp_url=",".join(cluster.urls))
    yield deployment
    if any(getattr(getattr(request.node, f"report_{w}", None), "failed", False) for w in ("setup", "call")):
        print(f"\n{deployment!r} in {deployment.workdir}\n{deployment.log_report()}")
    deployment.close()


def node_order(cluster: RabbitCluster, first: int) -> str:
    """Return NOTIFY_AMQP_URL listing every node, starting at node `first` (0-based) and wrapping."""
    nodes = cluster.nodes[first:] + cluster.nodes[:first]
    return ",".join(node.url for node in nodes)


async def wait_for_node(instance, node: RabbitNode | str | None, timeout: float) -> float:
    """Poll /readyz until the instance is ready on `node` (or that `host:port`; any if None); return the seconds."""
    address = node.address if isinstance(node, RabbitNode) else node
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=instance.url, trust_env=False, timeout=5) as client:
        while time.monotonic() - started < timeout:
            try:
                answer = await client.get("/readyz")
                on = answer.json()["checks"]["channel_layer"].get("node")
                if answer.status_code == 200 and (address is None or on == address):
                    return time.monotonic() - started
            except (httpx.TransportError, ValueError, KeyError):
                pass
            await asyncio.sleep(0.25)
    raise AssertionError(f"{instance.name} was not ready on {node} within {timeout}s")


def pytest_terminal_summary(terminalreporter) -> None:
    if FAULT_LINES:
        terminalreporter.section("scale: published and delivered")
        for line in FAULT_LINES:
            terminalreporter.write_line(line)
