"""One socket's requests: where each goes, at most 8 in flight, failures answered, never the socket's."""

import asyncio

import pytest

from notifications.errors import BadFrame, RateLimited
from notifications.ops import metrics
from notifications.protocol.gateway import Answer, GatewayRequest
from notifications.realtime.gateway import dispatch, upstream
from notifications.realtime.supervision import TaskSet


class FakeSession:
    """What the gateway needs of a session: its tasks, user and log context."""

    def __init__(self):
        self.failures = []
        self.tasks = TaskSet("test", on_failure=lambda task, error: self.failures.append(error))
        self.user = type("User", (), {"get_username": lambda self: "ada"})()
        self.scope = {}

    def log_context(self, event):
        return {"event": event}


@pytest.fixture
def upstreams(settings):
    settings.NOTIFY_GATEWAY_UPSTREAMS = ["billing=http://127.0.0.1:9/base"]


async def test_the_ninth_request_in_flight_is_rate_limited_with_its_ref(upstreams, monkeypatch):
    """Eight held requests fill the socket; the ninth is refused at once; a freed slot admits another."""
    release = asyncio.Event()

    async def held(request, base_url, username, limit):
        await release.wait()
        return Answer(200, {"ok": True})

    monkeypatch.setattr(upstream, "call", held)
    session, answers = FakeSession(), []
    gateway = dispatch.Gateway(session)

    async def reply(answer):
        answers.append(answer)

    request = GatewayRequest("GET", "/x", service="billing")
    for index in range(dispatch.MAX_IN_FLIGHT):
        gateway.submit(request, f"r{index}", reply)
    with pytest.raises(RateLimited) as caught:
        gateway.submit(request, "r9", reply)
    assert caught.value.ref == "r9" and caught.value.default_code == "rate_limited"
    release.set()
    async with asyncio.timeout(5):
        while len(answers) < dispatch.MAX_IN_FLIGHT:
            await asyncio.sleep(0.01)
    assert gateway.in_flight == 0 and {a.status for a in answers} == {200}
    gateway.submit(request, "r10", reply)
    await session.tasks.cancel_all()


async def test_an_unknown_service_is_a_bad_request(upstreams):
    gateway = dispatch.Gateway(FakeSession())
    with pytest.raises(BadFrame) as caught:
        gateway.submit(GatewayRequest("GET", "/x", service="nope"), "r1", None)
    assert caught.value.ref == "r1" and gateway.in_flight == 0


async def test_a_failing_request_answers_500_and_the_session_goes_on(upstreams, monkeypatch):
    """An unexpected error in one request is its 500 answer, not a failed session task."""

    async def broken(*args):
        raise RuntimeError("boom")

    monkeypatch.setattr(upstream, "call", broken)
    counted = metrics.GATEWAY_REQUESTS.labels(target="billing", status_class="5xx")
    before = counted._value.get()
    session, answers = FakeSession(), asyncio.Queue()
    dispatch.Gateway(session).submit(GatewayRequest("GET", "/x", service="billing"), "r1", answers.put)
    answer = await asyncio.wait_for(answers.get(), 5)
    assert answer.status == 500 and session.failures == []
    assert counted._value.get() == before + 1


def test_an_answer_too_large_for_a_frame_becomes_413(settings):
    settings.NOTIFY_MAX_FRAME_BYTES = 100
    assert dispatch.fitted(Answer(200, "x" * 50), 60).status == 200
    assert dispatch.fitted(Answer(200, "x" * 70), 60).status == 413


async def test_an_unreachable_upstream_answers_502(settings, tmp_path):
    """A refused connection (nothing listens on port 9 here) is 502, within the timeout."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from tests.realtime.test_gateway_signing import pem

    key_file = tmp_path / "k.pem"
    key_file.write_bytes(pem(ec.generate_private_key(ec.SECP256R1())))
    settings.NOTIFY_GATEWAY_PRIVATE_KEY_FILE = str(key_file)
    request = GatewayRequest("GET", "/x", service="billing")
    answer = await upstream.call(request, "http://127.0.0.1:9/base", "ada", 1000)
    assert answer.status == 502
    await upstream.close_client()
