"""W5: status events published to the AMQP ingress (PROTOCOL 5.3), delivered to one client per user.

One instance, its own ingress exchange (so its queue is its own), PostgreSQL.
A pika publisher in a thread of the benchmark's process sends every message
as fast as the broker takes it (no confirm per message, only for the last
one, which the broker confirms once every earlier message is in the queue:
the end-to-end count is what proves nothing was lost); each carries its send time as the event's
`message`, so latencies are from the publish to the socket.
"""

import asyncio
import os
import secrets
import time
from pathlib import Path

import httpx

from tests.integration.harness import Deployment
from tests.integration.ingress_client import Publisher, delete_ingress

from .population import create_users
from .processes import LoadGenerator
from .workloads import AMQP_URL, LONG_TICKETS, Sizes, notify_clients, observing, summarize

# Only the server counts: the deployment creates (and drops) a fresh database of its own there.
DATABASE_URL = os.environ.get("BENCH_INGRESS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ingress_bench")


def publish_all(exchange: str, users: dict, names: list[str], count: int) -> float:
    """Publish `count` status events round-robin over the users' requests; return the start time."""
    publisher = Publisher(AMQP_URL, exchange, confirm=False)
    started = time.time()
    for i in range(count):
        if i == count - 1:
            publisher.start_confirming()  # the last one's confirm: everything before it is in the queue
        body = {"request": users[names[i % len(names)]], "status": "processing", "message": repr(time.time())}
        publisher.publish(body, f"w5-{i}")
    publisher.close()
    return started


async def ingress_workload(workdir: Path, sizes: Sizes, profile_dir: Path | None = None) -> list[dict]:
    """W5: `sizes.ingress_events` through the ingress exchange to `sizes.clients` clients on one instance."""
    exchange = "bench.notify.ingress." + secrets.token_hex(6)
    env = {**LONG_TICKETS, "NOTIFY_INGRESS_EXCHANGE": exchange, "NOTIFY_INGRESS_CONSUMER": "1"}
    with Deployment(workdir / "ingress", amqp_url=AMQP_URL, database_url=DATABASE_URL, extra_env=env) as app:
        try:
            return [await _run(app, exchange, sizes, profile_dir)]
        finally:
            delete_ingress(AMQP_URL, exchange)


async def _run(app: Deployment, exchange: str, sizes: Sizes, profile_dir: Path | None) -> dict:
    instance = app.instance("A")
    token = app.create_service_token("bench", "publish")
    app.create_service_token("guest", "publish")  # the broker user the messages' user_id names
    users = create_users(app, sizes.clients, with_requests=True)
    names = sorted(users)
    per_client = sizes.ingress_events // len(names)
    load = LoadGenerator(await notify_clients([instance], token, names), "notify", expect=per_client, timeout=300)
    load.wait_ready()
    name = f"W5 AMQP ingress ({per_client * len(names)} events, 1 instance)"
    with observing([instance], profile_dir)(name, load) as seen:
        started = await asyncio.to_thread(publish_all, exchange, users, names, per_client * len(names))
        published_secs = time.time() - started
        result = load.finish(timeout=300)
    rate = round(per_client * len(names) / max(1e-9, published_secs))
    consumer = consumer_status(instance.url)
    return summarize(
        name,
        result,
        started,
        publishes_per_sec=rate,
        batches=consumer.get("batches"),
        store_secs=consumer.get("store_secs"),
        cpu_seconds=seen.cpu,
    )


def consumer_status(base_url: str) -> dict:
    """Return the instance's ingress consumer counters (batches, seconds storing them) from /readyz."""
    answer = httpx.get(f"{base_url}/readyz", timeout=10, trust_env=False)
    return (answer.json().get("checks", answer.json()).get("channel_layer") or {}).get("ingress") or {}
