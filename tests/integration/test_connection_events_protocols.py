"""Connection events (PROTOCOL 5.2) for every protocol, on two real daphne instances: one of each, the right reason.

Sockets of json, stomp, mqtt, sse, sockjs-json (websocket and xhr
transports) and sockjs-stomp are opened as a signed-in user or with a JWT,
and ended by their client, by the service for what they sent, at their
token's `exp`, or by a SIGKILL of their instance. The deployment's own
exchange is tapped (`ExchangeTap`).
"""

import asyncio
import random
import secrets
import time
from collections import Counter

import jwt
import pytest

from .harness import UserSession
from .harness.raw_stomp import stomp_frame
from .harness.sockets import (
    CLIENTS,
    MQTT_DISCONNECT,
    MQTT_PUBLISH,
    Credentials,
    JsonClient,
    MqttClient,
    SockJsJsonClient,
    SockJsStompClient,
    SseClient,
    StompClient,
)
from .test_connection_events import PASSWORD, PRESENCE_TIMEOUT_SECS, ExchangeTap, deploy_with_own_exchange, unique

JWT_SECRET = secrets.token_urlsafe(48)
WAIT_SECS = 30
EXP_SECS = 2
OVERSIZE = "x" * 70_000


@pytest.fixture
def deployment(make_deployment):
    made = deploy_with_own_exchange(make_deployment, NOTIFY_JWT_SECRET=JWT_SECRET, NOTIFY_JWT_LEEWAY_SECS="0")
    made.create_user("bob", PASSWORD)
    return made


def mint(sub: str = "ada", exp_in: float = 600) -> str:
    return jwt.encode({"sub": sub, "exp": int(time.time() + exp_in)}, JWT_SECRET, "HS256")


async def test_every_protocols_sockets_opened_and_closed_at_random_publish_one_pair_and_instance_lost_after_a_kill(
    deployment,
):
    """Sockets of all seven clients, on A and B, open and close in random order; then B is SIGKILLed.

    Each socket publishes exactly one `user.connected` and one
    `user.disconnected` with its protocol and instance; a client's close is
    `client` (WebSocket 1000, SSE null, an abandoned SockJS xhr session
    1001); each protocol's sockets left on B are `instance_lost` (null).
    """
    a, b = deployment.instance("A"), deployment.instance("B")
    ada = Credentials(UserSession(a, "ada", PASSWORD).login())
    rng = random.Random(52)
    async with ExchangeTap(deployment.amqp_url, deployment.exchange) as tap:
        opened, live = [], []
        for _ in range(3):
            batch = [rng.choice(CLIENTS)(rng.choice([a, b]), ada) for _ in range(14)]
            live += await asyncio.gather(*(client.open() for client in batch))
            opened += batch
            rng.shuffle(live)
            for _ in range(rng.randint(4, 9)):
                await live.pop().close()
        await asyncio.gather(*(client.close() for client in live))
        await wait_for_pairs(tap, opened)
        closed_events = unique(tap.messages)
        left_on_b = await asyncio.gather(*(cls(b, ada).open() for cls in CLIENTS))
        await wait_for_connected(tap, opened + left_on_b)
        b.kill()
        await wait_for_pairs(tap, opened + left_on_b, timeout=PRESENCE_TIMEOUT_SECS + WAIT_SECS)
        events = unique(tap.messages)
    check_client_closes(opened, closed_events)
    check_lost(left_on_b, events)


def expected_counts(clients, instance: str | None = None) -> Counter:
    return Counter(c.protocol for c in clients if instance in (None, c.instance.name))


def counts_of(messages, kind: str, instance: str | None = None) -> Counter:
    by_id = {m["event_id"]: m for m in messages}
    return Counter(m["protocol"] for m in by_id.values() if m["type"] == kind and instance in (None, m["instance"]))


async def wait_for_connected(tap: ExchangeTap, clients) -> None:
    wanted = expected_counts(clients)
    await tap.wait_for(lambda messages: counts_of(messages, "user.connected") >= wanted)


async def wait_for_pairs(tap: ExchangeTap, clients, timeout: float = WAIT_SECS) -> None:
    """Wait until each client's protocol has as many connects and disconnects (per instance) as it has sockets."""

    def done(messages) -> bool:
        return all(
            counts_of(messages, kind, name) >= expected_counts(clients, name)
            for kind in ("user.connected", "user.disconnected")
            for name in ("A", "B")
        )

    await tap.wait_for(done, timeout)


def check_client_closes(clients, events: dict) -> None:
    """Each socket: one pair with its protocol and instance; ended by its client with its client's code."""
    for kind in ("user.connected", "user.disconnected"):
        for name in ("A", "B"):
            assert counts_of(events.values(), kind, name) == expected_counts(clients, name), (kind, name)
    for client in clients:
        if client.connection_id is None:  # MQTT: counted above
            continue
        connected, ended = (
            events[client.connection_id, "user.connected"],
            events[client.connection_id, "user.disconnected"],
        )
        assert connected["protocol"] == ended["protocol"] == client.protocol
        assert connected["instance"] == ended["instance"] == client.instance.name
        assert (ended["code"], ended["reason"]) == (client.closes_with, "client"), (client.protocol, ended)
    mqtt = [e for e in events.values() if e["type"] == "user.disconnected" and e["protocol"] == "mqtt"]
    assert {(e["code"], e["reason"]) for e in mqtt} <= {(1000, "client")}


def check_lost(left_on_b, events: dict) -> None:
    lost = [e for e in events.values() if e["type"] == "user.disconnected" and e["instance"] == "B"]
    lost = [e for e in lost if e["reason"] == "instance_lost"]
    assert Counter(e["protocol"] for e in lost) == expected_counts(left_on_b)
    assert {e["code"] for e in lost} == {None}
    for client in left_on_b:
        if client.connection_id is not None:
            assert events[client.connection_id, "user.disconnected"]["reason"] == "instance_lost"


# --- closes the service decides ------------------------------------------------------------------


async def json_closes(instance, ada: Credentials) -> list:
    """Oversize 1009, flooding 4429, a token socket's refresh naming bob 4401, a token's exp 4000."""
    oversize, flood = [await JsonClient(instance, ada).open() for _ in range(2)]
    refresh = await JsonClient(instance, Credentials(token=mint())).open()
    await oversize.ws.send(OVERSIZE)
    await flood.send_until_closed('{"type": "nope"}', 400)
    await refresh.ws.send(f'{{"type": "refresh", "token": "{mint("bob")}"}}')
    expiring = await JsonClient(instance, Credentials(token=mint(exp_in=EXP_SECS))).open()
    codes = [await c.read_close(EXP_SECS + WAIT_SECS) for c in (oversize, flood, refresh, expiring)]
    assert codes == [1009, 4429, 4401, 4000]
    return [
        (oversize, 1009, "refused"),
        (flood, 4429, "refused"),
        (refresh, 4401, "refused"),
        (expiring, 4000, "session_ended"),
    ]


async def stomp_closes(instance, ada: Credentials) -> list:
    """SEND: ERROR then 1008; oversize: ERROR then 1009; DISCONNECT: 1000 (client); exp: ERROR then 4000."""
    send, oversize, leaving = [await StompClient(instance, ada).open() for _ in range(3)]
    await send.ws.send(stomp_frame("SEND", {"destination": "/queue/x"}, "hi"))
    await oversize.ws.send(stomp_frame("SUBSCRIBE", {"id": "1", "destination": "/topic/" + OVERSIZE}))
    await leaving.disconnect()
    expiring = await StompClient(instance, Credentials(token=mint(exp_in=EXP_SECS))).open()
    assert [(await c.stomp.error_then_close(EXP_SECS + WAIT_SECS))[1] for c in (send, oversize, expiring)] == [
        1008,
        1009,
        4000,
    ]
    assert await leaving.read_close() == 1000
    return [
        (send, 1008, "refused"),
        (oversize, 1009, "refused"),
        (leaving, 1000, "client"),
        (expiring, 4000, "session_ended"),
    ]


class SilentMqttClient(MqttClient):
    keep_alive_secs = 1


async def mqtt_closes(instance, ada: Credentials) -> list:
    """PUBLISH 1008, a text message 1003, 1.5 keep-alives of silence 4408, DISCONNECT 1000, exp 4000."""
    publish, text, leaving = [await MqttClient(instance, ada).open() for _ in range(3)]
    silent = await SilentMqttClient(instance, ada).open()
    await publish.ws.send(MQTT_PUBLISH)
    await text.ws.send("CONNECT")
    await leaving.ws.send(MQTT_DISCONNECT)
    expiring = await MqttClient(instance, Credentials(token=mint(exp_in=EXP_SECS))).open()
    codes = [await c.read_close(EXP_SECS + WAIT_SECS) for c in (publish, text, silent, leaving, expiring)]
    assert codes == [1008, 1003, 4408, 1000, 4000]
    return [
        (None, 1008, "refused"),
        (None, 1003, "refused"),
        (None, 4408, "refused"),
        (None, 1000, "client"),
        (None, 4000, "session_ended"),
    ]


async def sse_closes(instance, ada: Credentials) -> list:
    """At the token's exp: `event: session-ended`, then the response ends."""
    expiring = await SseClient(instance, Credentials(token=mint(exp_in=EXP_SECS))).open()
    ended = await asyncio.wait_for(expiring.next_message(), EXP_SECS + WAIT_SECS)
    assert ended["event"] == "session-ended"
    await expiring.close()
    return [(expiring, 4000, "session_ended")]


async def sockjs_closes(instance, ada: Credentials) -> list:
    """sockjs-json: an oversized message 1009, a broken payload 1002; sockjs-stomp: SEND, ERROR then 1008."""
    oversize, broken = [await SockJsJsonClient(instance, ada).open() for _ in range(2)]
    stomp = await SockJsStompClient(instance, ada).open()
    await oversize.send_messages(OVERSIZE)
    await broken.ws.send("[1,")
    await stomp.send_messages(stomp_frame("SEND", {"destination": "/queue/x"}, "hi"))
    assert (await stomp.next_messages())[0].startswith("ERROR\n")
    assert [await c.read_close() for c in (oversize, broken, stomp)] == [1009, 1002, 1008]
    return [(oversize, 1009, "refused"), (broken, 1002, "refused"), (stomp, 1008, "refused")]


async def test_closes_an_adapter_decides_are_published_with_their_reason_and_code(deployment):
    """Each protocol's own closes, on A and B: limits and protocol errors `refused`, `exp` `session_ended`.

    A STOMP or MQTT DISCONNECT is the client's (1000). Every socket still
    publishes exactly one pair, with its protocol.
    """
    a, b = deployment.instance("A"), deployment.instance("B")
    ada = Credentials(UserSession(a, "ada", PASSWORD).login())
    async with ExchangeTap(deployment.amqp_url, deployment.exchange) as tap:
        cases = await asyncio.gather(
            json_closes(a, ada), stomp_closes(b, ada), mqtt_closes(a, ada), sse_closes(b, ada), sockjs_closes(a, ada),
        )  # fmt: skip
        expected = {"json": cases[0], "stomp": cases[1], "mqtt": cases[2], "sse": cases[3]}
        expected["sockjs-json"], expected["sockjs-stomp"] = cases[4][:2], cases[4][2:]
        wanted = Counter({protocol: len(closes) for protocol, closes in expected.items()})
        await tap.wait_for(lambda messages: counts_of(messages, "user.disconnected") >= wanted)
        events = unique(tap.messages)
    assert counts_of(events.values(), "user.connected") == wanted
    for protocol, closes in expected.items():
        published = [(e["code"], e["reason"]) for e in disconnects_of(events, protocol)]
        assert Counter(published) == Counter((code, reason) for _, code, reason in closes), protocol
        for client, code, reason in closes:
            if client is not None:
                ended = events[client.connection_id, "user.disconnected"]
                assert (ended["code"], ended["reason"], ended["protocol"]) == (code, reason, protocol)


def disconnects_of(events: dict, protocol: str) -> list[dict]:
    return [e for e in events.values() if e["type"] == "user.disconnected" and e["protocol"] == protocol]
