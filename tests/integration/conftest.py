"""Fixtures for tests that run real daphne processes against the real broker.

Everything in this folder is marked `integration`. On a failed test the log
path and last lines of every daphne instance are printed in its teardown.
"""

import fcntl
import os
import socket
import urllib.parse
from collections.abc import Callable, Iterator

import pytest

from .harness import Deployment, TcpProxy, collect_static

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
BROKER_PROBE_TIMEOUT_SECS = 3.0


def _test_failed(request: pytest.FixtureRequest) -> bool:
    return any(getattr(getattr(request.node, f"report_{when}", None), "failed", False) for when in ("setup", "call"))


@pytest.fixture(scope="session")
def amqp_url() -> str:
    """Return the broker URL the integration tests use (NOTIFY_TEST_AMQP_URL), checked reachable."""
    url = os.environ.get("NOTIFY_TEST_AMQP_URL") or DEFAULT_AMQP_URL
    parts = urllib.parse.urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port or 5672), BROKER_PROBE_TIMEOUT_SECS).close()
    except OSError as exc:
        pytest.fail(
            f"RabbitMQ at {parts.hostname}:{parts.port or 5672} is not reachable ({exc}); "
            "scripts/test starts it, or set NOTIFY_TEST_AMQP_URL."
        )
    return url


@pytest.fixture(scope="session")
def static_files(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Collect the static files once per run: with DEBUG off, pages need the manifest.

    Parallel workers (pytest-xdist) share one run folder: the first collects, under a lock, and the
    others reuse its result rather than rewrite the manifest while the first one's instances read it.
    """
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        collect_static()
        return
    run_dir = tmp_path_factory.getbasetemp().parent
    with (run_dir / "collectstatic.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp = run_dir / "collectstatic.done"
        if not stamp.exists():
            collect_static()
            stamp.touch()


@pytest.fixture
def make_deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, amqp_url: str, static_files: None
) -> Iterator[Callable[..., Deployment]]:
    """Return a factory of Deployments (fresh database and namespace), all closed after the test.

    `make_deployment(amqp_url=None)` builds one on the test broker; pass
    `amqp_url=""` for the in-process layer (one instance only).
    """
    made: list[Deployment] = []

    def make(*, amqp_url: str | None = amqp_url, **kwargs) -> Deployment:
        workdir = tmp_path_factory.mktemp(f"{request.node.name[:40]}-deployment")
        deployment = Deployment(workdir, amqp_url=amqp_url, **kwargs)
        made.append(deployment)
        return deployment

    yield make
    failed = _test_failed(request)
    for deployment in made:
        if failed:
            print(f"\n{deployment!r} in {deployment.workdir}\n{deployment.log_report()}")
        deployment.close()


@pytest.fixture
def deployment(make_deployment: Callable[..., Deployment]) -> Deployment:
    """Return a fresh Deployment on the test broker; start instances with `deployment.instance()`."""
    return make_deployment()


@pytest.fixture
def make_proxy() -> Iterator[Callable[[str, int], TcpProxy]]:
    """Return a factory `make_proxy(host, port)` of TcpProxies, all closed after the test."""
    proxies: list[TcpProxy] = []

    def make(host: str, port: int) -> TcpProxy:
        proxy = TcpProxy(host, port)
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.close()


@pytest.fixture
def broker_proxy(make_proxy: Callable[[str, int], TcpProxy], amqp_url: str) -> TcpProxy:
    """Return a TcpProxy in front of the test broker; `broker_proxy.url_through(amqp_url)` is its URL."""
    parts = urllib.parse.urlsplit(amqp_url)
    return make_proxy(parts.hostname, parts.port or 5672)


class Service:
    """Two daphne instances of one deployment with two users and a service token."""

    PASSWORD = "correct-horse-battery"

    def __init__(self, deployment: Deployment, **instance_kwargs):
        self.deployment = deployment
        self.a = deployment.instance("A", start=False, **instance_kwargs.get("a", {}))
        self.b = deployment.instance("B", start=False, **instance_kwargs.get("b", {}))
        # Both instances boot while the users and the token are written.
        for instance in (self.a, self.b):
            instance.start()
        users = {"ada": self.PASSWORD, "bob": self.PASSWORD}
        ids, self.token = deployment.provision(users, "worker", "publish", "broadcast")
        self.ada_id, self.bob_id = ids["ada"], ids["bob"]
        for instance in (self.a, self.b):
            instance.wait_ready()

    def session(self, username: str, instance=None):
        from .harness import UserSession

        return UserSession(instance or self.a, username, self.PASSWORD).login()

    def publisher(self, instance=None):
        from .harness import TokenClient

        return TokenClient(instance or self.a, self.token)


@pytest.fixture
def service(deployment: Deployment) -> Service:
    """Return two instances A and B on the real broker, users ada and bob, and a publish+broadcast token."""
    return Service(deployment)
