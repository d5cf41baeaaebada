"""Connect-rate admission: a token bucket of connects, and what a shed connect is answered."""

import pytest

from notifications.realtime.admission import Admission, ConnectBucket


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_bucket_takes_a_burst_then_the_rate():
    clock = Clock()
    bucket = ConnectBucket(rate=2, burst=3, clock=clock)
    assert [bucket.admit() for _ in range(4)] == [True, True, True, False]
    clock.now = 0.5  # one more token
    assert [bucket.admit(), bucket.admit()] == [True, False]


def test_a_rate_of_zero_admits_everything():
    bucket = ConnectBucket(rate=0, burst=1)
    assert all(bucket.admit() for _ in range(1000))


async def _run(gate, scope, messages):
    sent = []

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message)

    await gate(scope, receive, send)
    return sent


@pytest.fixture
def shedding(settings):
    settings.NOTIFY_MAX_CONNECTS_PER_SEC = 0.001
    settings.NOTIFY_CONNECT_BURST = 1
    admitted = []

    async def app(scope, receive, send):
        admitted.append(scope["type"])

    return Admission(), app, admitted


async def test_a_shed_socket_is_accepted_with_an_offered_subprotocol_and_closed_with_1013(shedding):
    """Stock STOMP and MQTT clients fail a handshake that selects none of their subprotocols."""
    admission, app, admitted = shedding
    gate = admission.gate(app)
    scope = {"type": "websocket", "subprotocols": ["v12.stomp", "v11.stomp"]}
    assert await _run(gate, scope, [{"type": "websocket.connect"}]) == []
    assert admitted == ["websocket"]
    sent = await _run(gate, scope, [{"type": "websocket.connect"}])
    assert sent == [
        {"type": "websocket.accept", "subprotocol": "v12.stomp"},
        {"type": "websocket.close", "code": 1013},
    ]
    assert admitted == ["websocket"]


async def test_a_shed_event_stream_gets_503_with_retry_after_and_gates_share_one_budget(shedding):
    admission, app, admitted = shedding
    await _run(admission.gate(app), {"type": "websocket", "subprotocols": []}, [{"type": "websocket.connect"}])
    sent = await _run(admission.gate(app), {"type": "http", "path": "/api/v1/stream/"}, [])
    assert sent[0]["status"] == 503 and (b"retry-after", b"2") in sent[0]["headers"]
    assert admitted == ["websocket"]
