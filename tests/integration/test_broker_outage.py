"""A cut or silent broker link: nothing stored is lost, and the instance heals itself."""

import asyncio
import time

import httpx
import pytest

from .conftest import Service
from .harness import TcpProxy, assert_silent
from .harness.stream import StreamFollower
from .test_fanout import create_request, report


@pytest.fixture
def proxied_service(deployment):
    """Instance A reaches the broker through a proxy the test controls; B directly."""
    host, port = deployment.amqp_url.split("@")[-1].split("/")[0].split(":")
    with TcpProxy(host, int(port)) as proxy:
        service = Service(deployment, a={"amqp_url": proxy.url_through(deployment.amqp_url)})
        service.proxy = proxy
        yield service


async def wait_for_readiness(instance, ready: bool, timeout: float) -> float:
    """Poll /readyz until it says `ready`; return the seconds it took."""
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=instance.url, trust_env=False, timeout=5) as client:
        while time.monotonic() - started < timeout:
            answer = await client.get("/readyz")
            if (answer.status_code == 200) is ready:
                return time.monotonic() - started
            await asyncio.sleep(0.25)
    raise AssertionError(f"{instance.name} /readyz did not become {'ready' if ready else 'unready'} in {timeout}s")


async def test_events_published_during_a_cut_reach_the_client_after_it_heals(proxied_service):
    """With A's broker link cut, publishes on A and B answer 202; once restored, ada on A gets each once, in order."""
    service = proxied_service
    ada = StreamFollower(service.session("ada"))
    await ada.connect(service.a)
    with service.publisher(service.a) as via_a, service.publisher(service.b) as via_b:
        request_id = create_request(via_a, "ada", "Bank transfer")
        await ada.read_until_count(1, timeout=10)

        service.proxy.cut()
        await wait_for_readiness(service.a, ready=False, timeout=15)
        published = [report(via_a if i % 2 else via_b, request_id, "processing", i * 10)["id"] for i in range(1, 9)]
        published.append(report(via_a, request_id, "succeeded", 100)["id"])
        service.proxy.restore()

        await wait_for_readiness(service.a, ready=True, timeout=40)
        await ada.read_until_count(1 + len(published), timeout=30)
        await assert_silent(ada.ws, 2)
    assert ada.ids[1:] == published
    await ada.disconnect()


async def test_a_silent_partition_is_noticed_in_seconds_and_healed(proxied_service):
    """A link that stops forwarding without closing is reported by /readyz within seconds, and recovers."""
    service = proxied_service
    ada = StreamFollower(service.session("ada"))
    await ada.connect(service.a)
    service.proxy.stall()
    noticed_after = await wait_for_readiness(service.a, ready=False, timeout=20)
    assert noticed_after < 15, "an AMQP heartbeat would take 60 s or more"
    with service.publisher(service.b) as publisher:
        request_id = create_request(publisher, "ada", "Import during partition")
        report(publisher, request_id, "processing", 50)
    service.proxy.resume_forwarding()
    await wait_for_readiness(service.a, ready=True, timeout=40)
    await ada.read_until_count(2, timeout=30)
    assert [e["request"]["status"] for e in ada.events] == ["queued", "processing"]
    await ada.disconnect()


async def test_sockets_connect_and_resume_while_the_broker_is_unreachable(deployment):
    """An instance started with no broker answers 503 on /readyz but still serves welcome and resume."""
    with TcpProxy("127.0.0.1", 5672) as proxy:
        proxy.cut()
        service = Service(deployment, a={"amqp_url": proxy.url_through(deployment.amqp_url)})
        with service.publisher(service.b) as publisher:
            create_request(publisher, "ada", "Stored while A had no broker")
        await wait_for_readiness(service.a, ready=False, timeout=15)
        ada = StreamFollower(service.session("ada"))
        ada.cursor = "0" * 24
        replayed = await ada.connect(service.a)
        assert replayed["count"] == 1 and ada.events[0]["request"]["title"] == "Stored while A had no broker"
        proxy.restore()
        await wait_for_readiness(service.a, ready=True, timeout=40)
        with service.publisher(service.b) as publisher:
            create_request(publisher, "ada", "After the broker came back")
        await ada.read_until_count(2, timeout=15)
        await ada.disconnect()
