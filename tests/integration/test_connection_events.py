"""Connection events (PROTOCOL 5.2) from real daphne instances: to the RabbitMQ exchange and to webhooks.

A tap queue bound to the deployment's own exchange (NOTIFY_CONNECTION_EVENTS_EXCHANGE,
so concurrent runs on the shared broker never mix) collects what is published.
"""

import asyncio
import json
import random
import secrets
import time
from collections import Counter

import carehare
import pamqp.commands
import pytest

from .harness import UserSession, recv_json
from .harness.webhooks import WebhookReceiver, verify

PASSWORD = "correct-horse-battery"
PRESENCE_TIMEOUT_SECS = 3
WAIT_SECS = 30
BODY_KEYS = {"type", "event_id", "user", "connection_id", "instance", "protocol", "at"}


class ExchangeTap:
    """An exclusive queue bound to the exchange with `user.*`; collects every message body."""

    def __init__(self, url: str, exchange: str):
        self.url, self.exchange = url, exchange
        self.messages: list[dict] = []
        self.changed = asyncio.Event()

    async def __aenter__(self) -> "ExchangeTap":
        self.connection = carehare.Connection(self.url)
        await self.connection.connect()
        await self.connection.exchange_declare(self.exchange, exchange_type="topic", durable=True)
        queue = "it.tap." + secrets.token_hex(6)
        await self.connection.queue_declare(queue, exclusive=True)
        await self.connection.queue_bind(queue, self.exchange, routing_key="user.*")
        self.consumer = self.connection.acking_consumer(queue, prefetch_count=500)
        self.task = asyncio.get_running_loop().create_task(self._consume())
        return self

    async def _consume(self) -> None:
        async with self.consumer:
            async for body in self.consumer:
                self.messages.append(json.loads(body))
                self.changed.set()

    async def __aexit__(self, *exc_info) -> None:
        self.consumer.close()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.connection._protocol.rpc(pamqp.commands.Exchange.Delete(exchange=self.exchange, nowait=True))
        await self.connection.close()

    async def wait_for(self, predicate, timeout: float = WAIT_SECS) -> list[dict]:
        """Return the messages once `predicate(messages)` holds; fail after `timeout`."""
        deadline = time.monotonic() + timeout
        while not predicate(self.messages):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"not published within {timeout}s; got {Counter(m['type'] for m in self.messages)}"
                )
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), remaining)
            except TimeoutError:
                pass
        return self.messages


def unique(messages: list[dict]) -> dict[tuple[str, str], dict]:
    """Drop repeats by event_id (as receivers do); return the events by (connection, type), each once."""
    by_id = {m["event_id"]: m for m in messages}
    kinds = Counter((m["connection_id"], m["type"]) for m in by_id.values())
    doubled = [key for key, count in kinds.items() if count > 1]
    assert not doubled, f"two events of one type for one socket: {doubled[:3]}"
    return {(m["connection_id"], m["type"]): m for m in by_id.values()}


def has_all(connection_ids, *types):
    def check(messages):
        seen = {(m["connection_id"], m["type"]) for m in messages}
        return all((cid, t) in seen for cid in connection_ids for t in types)

    return check


def deploy_with_own_exchange(make_deployment, **env: str):
    """Return a deployment publishing to an exchange of its own (`.exchange`), a short presence timeout, user ada."""
    exchange = "it.notify.connections." + secrets.token_hex(6)
    env = {
        "NOTIFY_CONNECTION_EVENTS_EXCHANGE": exchange,
        "NOTIFY_PRESENCE_TIMEOUT_SECS": str(PRESENCE_TIMEOUT_SECS),
        **env,
    }
    deployment = make_deployment(extra_env=env)
    deployment.exchange = exchange
    deployment.create_user("ada", PASSWORD)
    return deployment


@pytest.fixture
def events_deployment(make_deployment):
    return deploy_with_own_exchange(
        make_deployment, NOTIFY_WEBHOOK_TIMEOUT_SECS="2", NOTIFY_WEBHOOK_FIRST_RETRY_SECS="1"
    )


async def open_socket(session, instance):
    ws = await session.websocket(instance=instance)
    welcome = await recv_json(ws)
    assert welcome["type"] == "welcome"
    return ws, welcome["connection_id"]


async def kill_b_and_wait_for_lost(tap: ExchangeTap, session, b) -> tuple[dict, float]:
    """Open sockets on B, SIGKILL it; return their disconnects (from the survivor) and how long they took."""
    lost_ids = [(await open_socket(session, b))[1] for _ in range(6)]
    await tap.wait_for(has_all(lost_ids, "user.connected"))
    b.kill()
    killed = time.monotonic()
    await tap.wait_for(has_all(lost_ids, "user.disconnected"), timeout=PRESENCE_TIMEOUT_SECS + 20)
    took = time.monotonic() - killed
    events = unique(tap.messages)
    return {cid: events[cid, "user.disconnected"] for cid in lost_ids}, took


async def test_each_socket_publishes_one_connected_and_one_disconnected_also_when_its_instance_is_killed(
    events_deployment,
):
    """150 sockets over two instances open and close in random order; a logout ends bob's with 4000; B is killed.

    Each socket gets exactly one `user.connected` and one `user.disconnected`
    with PROTOCOL 5.2's body: the user, the instance that held it, the
    protocol, the close code and the reason (`client`, `session_ended`).
    After SIGKILL of B, A publishes `instance_lost` (code null) once for each
    of B's sockets, once the presence timeout has passed.
    """
    deployment = events_deployment
    deployment.create_user("bob", PASSWORD)
    async with ExchangeTap(deployment.amqp_url, deployment.exchange) as tap:
        a, b = deployment.instance("A"), deployment.instance("B")
        ada = UserSession(a, "ada", PASSWORD).login()
        bob = UserSession(a, "bob", PASSWORD).login()
        rng = random.Random(5)
        open_sockets, instance_of, closed = {}, {}, []
        for _ in range(10):
            targets = [rng.choice([a, b]) for _ in range(15)]
            batch = await asyncio.gather(*(open_socket(ada, target) for target in targets))
            for (ws, cid), target in zip(batch, targets, strict=True):
                open_sockets[cid], instance_of[cid] = ws, target.name
            for cid in rng.sample(sorted(open_sockets), k=rng.randint(5, 12)):
                await open_sockets.pop(cid).close()
                closed.append(cid)
        bobs = await asyncio.gather(*(open_socket(bob, i) for i in (a, b, b)))
        await asyncio.gather(*(ws.close() for ws in open_sockets.values()))
        closed += list(open_sockets)
        assert bob.logout().status_code in (200, 302)
        bob_ids = [cid for _, cid in bobs]
        await asyncio.gather(*(ws.wait_closed() for ws, _ in bobs))

        events = unique(await tap.wait_for(has_all(closed + bob_ids, "user.connected", "user.disconnected")))
        lost, took = await kill_b_and_wait_for_lost(tap, ada, b)
    assert len(closed) == 150 and len(events) == 2 * 153
    for cid in closed:
        connected, ended = events[cid, "user.connected"], events[cid, "user.disconnected"]
        assert set(connected) == BODY_KEYS and set(ended) == BODY_KEYS | {"code", "reason"}
        assert connected["user"] == {"id": connected["user"]["id"], "username": "ada"}
        assert connected["instance"] == ended["instance"] == instance_of[cid]
        assert connected["protocol"] == "json" and connected["at"] <= ended["at"]
        assert (ended["code"], ended["reason"]) == (1000, "client")
    for cid in bob_ids:
        assert (events[cid, "user.disconnected"]["code"], events[cid, "user.disconnected"]["reason"]) == (
            4000,
            "session_ended",
        )
    assert took >= PRESENCE_TIMEOUT_SECS - 1, "declared lost before the presence timeout"
    assert {(e["reason"], e["code"], e["instance"]) for e in lost.values()} == {("instance_lost", None, "B")}


async def test_a_broker_cut_delays_connection_events_and_loses_none(events_deployment, make_proxy):
    """With the only instance's broker link cut, sockets open and close; after the link heals each event arrives.

    Nothing is lost and, once repeats are dropped by event_id, nothing is doubled.
    """
    deployment = events_deployment
    host, port = deployment.amqp_url.split("@")[-1].split("/")[0].split(":")
    proxy = make_proxy(host, int(port))
    async with ExchangeTap(deployment.amqp_url, deployment.exchange) as tap:
        a = deployment.instance("A", amqp_url=proxy.url_through(deployment.amqp_url))
        ada = UserSession(a, "ada", PASSWORD).login()
        before = [await open_socket(ada, a) for _ in range(10)]
        await tap.wait_for(has_all([cid for _, cid in before], "user.connected"))
        proxy.cut()
        during = [await open_socket(ada, a) for _ in range(10)]
        await asyncio.gather(*(ws.close() for ws, _ in before + during))
        ids = [cid for _, cid in before + during]
        published_during_cut = len(tap.messages)
        proxy.restore()
        events = unique(await tap.wait_for(has_all(ids, "user.connected", "user.disconnected"), timeout=45))
    assert published_during_cut == 10, "published while the broker link was cut"
    assert len(events) == 40


async def until(check, timeout: float = WAIT_SECS, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        await asyncio.sleep(0.1)


async def test_webhooks_are_signed_and_retried_until_a_failing_then_hanging_receiver_recovers(events_deployment):
    """A receiver answering 500, then hanging past the timeout, gets every event once it answers 204.

    A healthy receiver meanwhile gets each at once; every POST is signed;
    each attempt is stored with its status (500, none for the timeout, 204).
    """
    deployment = events_deployment
    flaky, healthy = WebhookReceiver("fail"), WebhookReceiver("ok")
    try:
        deployment.manage("create_webhook", flaky.url, "--secret", "flaky-secret")
        deployment.manage("create_webhook", healthy.url, "--secret", "healthy-secret", "--event", "user.disconnected")
        a, b = deployment.instance("A"), deployment.instance("B")
        ada = UserSession(a, "ada", PASSWORD).login()
        sockets = [await open_socket(ada, i) for i in (a, b, a)]
        await asyncio.gather(*(ws.close() for ws, _ in sockets))
        ids = {cid for _, cid in sockets}
        await until(lambda: healthy.count("ok") >= 3, what="the healthy receiver's disconnects")
        healthy_events = [verify("healthy-secret", r) for r in healthy.requests]
        assert {e["connection_id"] for e in healthy_events} == ids
        assert {e["type"] for e in healthy_events} == {"user.disconnected"}

        await until(lambda: flaky.count("fail") >= 12, what="two failed rounds of six events")
        flaky.mode = "hang"
        await until(lambda: flaky.count("hang") >= 1, what="a POST to the hanging receiver")
        flaky.mode = "ok"

        def delivered() -> set:
            return {
                (e["connection_id"], e["type"])
                for r in flaky.requests
                if r["mode"] == "ok"
                for e in [verify("flaky-secret", r)]
            }

        await until(lambda: len(delivered()) == 6, timeout=45, what="every event after recovery")
        assert {cid for cid, _ in delivered()} == ids
        attempts = json.loads(deployment.manage("shell", "--no-imports", "-c", ATTEMPTS_SCRIPT))
    finally:
        flaky.close()
        healthy.close()
    flaky_attempts = [row for row in attempts if row["url"] == flaky.url]
    assert {row["status"] for row in flaky_attempts} >= {500, None, 204}
    assert all(row["error"] for row in flaky_attempts if row["status"] is None)
    assert sum(row["ok"] for row in flaky_attempts) == 6


ATTEMPTS_SCRIPT = """
import json
from notifications.models import WebhookAttempt
rows = WebhookAttempt.objects.select_related("delivery__endpoint")
print(json.dumps([
    {"url": r.delivery.endpoint.url, "status": r.status_code, "ok": r.ok, "error": r.error} for r in rows
]))
"""
