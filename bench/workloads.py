"""The workloads W1 to W4 and the baselines; each returns table rows (dicts) and prints them as JSON lines.

A row the ratio table (bench/ratios.py) reads is tagged with its `system`
(`ours-1`, `ours-2`, `naive`) and `case` (`W1 saturated`, `W1 at 1/s`, `W2`,
`W2 one a call`, `W3`).
"""

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from tests.integration.harness import DaphneInstance, Deployment

from .population import create_users, issue_tickets
from .processes import LoadGenerator, Observation, rss_kib
from .publishers import (
    announcement,
    in_calls,
    naive_announcement,
    naive_call,
    post_as_fast,
    post_at_rate,
    status_call,
)

AMQP_URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
# W3 issues all its tickets before it connects: let them outlive the issuing.
LONG_TICKETS = {"NOTIFY_TICKET_TTL_SECS": "1800"}
# Settings for our instances, from the environment: BENCH_SETTINGS="NOTIFY_DELIVERY_LEDGER=0 NOTIFY_X=1".
OVERRIDES = dict(item.split("=", 1) for item in os.environ.get("BENCH_SETTINGS", "").split())


@dataclass(frozen=True)
class Sizes:
    clients: int
    broadcasts: int
    broadcast_rate: float
    slow_broadcasts: int
    per_user_events: int
    idle_connections: int
    publish_events: int
    batch: int = 100
    ingress_events: int = 0  # W5; none in the short mode (it needs a deployment of its own)


FULL = Sizes(1000, 200, 50, 20, 10_000, 10_000, 600, ingress_events=10_000)
SHORT = Sizes(40, 20, 20, 3, 240, 200, 60, batch=20)


def observing(instances, profile_dir: Path | None = None, ours: bool = True):
    """Return what observes a workload on these instances: their CPU too, and py-spy profiles into `profile_dir`.

    On instances of ours (`ours`) it also reads from their /metrics how much
    live delivery was caught up from the database.
    """
    scraped = list(instances) if ours else []

    def observed(name: str, load: LoadGenerator | None) -> Observation:
        return Observation(
            name, {instance.name: instance.pid for instance in instances}, load, profile_dir, scraped=scraped
        )

    return observed


def instances_label(count: int) -> str:
    return f"{count} instance" if count == 1 else f"{count} instances"


def summarize(
    name: str, result: dict, started: float, protocol: str = "json", system: str | None = None, case: str = "", **extra
) -> dict:
    """Return (and print as a JSON line) a row; with a `system`, tagged with it and `case` for the ratio table."""
    span = max(1e-9, result["last_receipt"] - started)
    row = {
        "workload": name,
        "protocol": protocol,
        "delivered": result["unique"],
        "expected": result["expected"],
        "lost": result["lost"],
        "duplicated": result["duplicated"],
        "out_of_order": result.get("out_of_order", 0),
        "per_sec": round(result["unique"] / span),
        **result["latency_ms"],
        **extra,
        "load_1min": round(os.getloadavg()[0], 1),  # the machine is shared: how busy it was at the row's end
    }
    if system is not None:
        row.update(system=system, case=case)
    if result.get("failure"):
        row["failure"] = result["failure"]
    print(json.dumps(row), flush=True)
    return row


# How each protocol's clients connect: the load generator's protocol, the path, where the ticket goes.
PROTOCOLS = {
    "json": ("notify", "/ws/notifications/", "query"),
    "stomp": ("stomp", "/ws/stomp/", "passcode"),
    "mqtt": ("mqtt", "/mqtt", "password"),
    "mqtt-qos1": ("mqtt", "/mqtt", "password"),  # subscribed at QoS 1: every PUBLISH answered with PUBACK
}
# What a protocol's clients ask for besides connecting.
CLIENT_OPTIONS = {"mqtt-qos1": {"qos": 1}}
# The table's label for each protocol (JSON's rows keep their names from before STOMP and MQTT).
LABELS = {"json": "", "stomp": ", STOMP", "mqtt": ", MQTT", "mqtt-qos1": ", MQTT QoS 1"}


async def notify_clients(instances, token: str, usernames: list[str], protocol: str = "json") -> list[dict]:
    """Return a load-generator client per user, spread over the instances, each with a fresh ticket.

    JSON clients carry the ticket in the URL (`?ticket=`), STOMP clients in
    CONNECT's `passcode`, MQTT clients in CONNECT's password.
    """
    tickets = await issue_tickets(instances[0].url, token, usernames)
    _, path, where = PROTOCOLS[protocol]
    clients = []
    for i, ticket in enumerate(tickets):
        instance = instances[i % len(instances)]
        options = CLIENT_OPTIONS.get(protocol, {})
        if where == "query":
            clients.append({"url": f"{instance.ws_url}{path}?ticket={ticket}", "origin": instance.origin, **options})
        else:
            clients.append({"url": f"{instance.ws_url}{path}", "origin": instance.origin, "ticket": ticket, **options})
    return clients


# --- W1 ------------------------------------------------------------------------------------


async def broadcast_workload(
    label,
    publish_url,
    fresh_clients,
    protocol,
    sizes,
    publish_path,
    body,
    headers,
    observed,
    row_protocol="json",
    system=None,
) -> list:
    """W1: announcements to every client, saturated and at 1 a second, published on `publish_url`.

    `fresh_clients()` gives new clients for each of the two.
    """
    rows = []
    for count, rate, name in (
        (sizes.broadcasts, sizes.broadcast_rate, "W1 saturated"),
        (sizes.slow_broadcasts, 1.0, "W1 at 1/s"),
    ):
        load = LoadGenerator(await fresh_clients(), protocol, expect=count, timeout=120 + count / rate)
        load.wait_ready()
        with observed(f"{name} ({label})", load) as seen:
            started = await post_at_rate(publish_url, publish_path, count, rate, body, headers)
            result = load.finish(timeout=120)
        rows.append(
            summarize(
                f"{name} ({label})",
                result,
                started,
                row_protocol,
                system,
                name,
                cpu_seconds=seen.cpu,
                caught_up_pct=seen.caught_up_pct,
            )
        )
    return rows


async def product_broadcasts(
    label: str,
    instances,
    token: str,
    names: list[str],
    sizes: Sizes,
    observed,
    protocol: str = "json",
    publish_on=None,
    system: str | None = None,
) -> list:
    """W1 on instances of the product: announcements through the REST API, clients with fresh tickets.

    The clients are spread over `instances`; the announcements are published
    on `publish_on` (default: the first of them).
    """
    return await broadcast_workload(
        label + LABELS[protocol],
        (publish_on or instances[0]).url,
        lambda: notify_clients(instances, token, names, protocol),
        PROTOCOLS[protocol][0],
        sizes,
        "/api/v1/broadcasts/",
        announcement,
        {"Authorization": f"Token {token}"},
        observed,
        protocol,
        system,
    )


# --- W2 ------------------------------------------------------------------------------------


async def publish_statuses(
    name: str,
    instances,
    publish_urls: list[str],
    token: str,
    users: dict,
    names: list[str],
    per_client: int,
    per_call: int,
    workers: int,
    observed,
    protocol: str = "json",
    system: str | None = None,
    case: str = "",
) -> dict:
    """Connect one client per name, publish `per_client` status events to each as fast as `workers` go; one row."""
    clients = await notify_clients(instances, token, names, protocol)
    load = LoadGenerator(clients, PROTOCOLS[protocol][0], expect=per_client, timeout=300)
    load.wait_ready()
    # No progress: it may never decrease (409), and every W2 and W4 row publishes to the same requests.
    bodies = [{"request": users[names[i % len(names)]], "status": "processing"} for i in range(per_client * len(names))]
    headers = {"Authorization": f"Token {token}"}
    with observed(name, load) as seen:
        started, timings = await post_as_fast(publish_urls, headers, in_calls(bodies, per_call), workers, status_call)
        published_secs = max(1e-9, time.time() - started)
        result = load.finish(timeout=300)
    timings.sort()
    return summarize(
        name,
        result,
        started,
        protocol,
        system,
        case,
        posts_per_sec=round(len(bodies) / published_secs),
        post_p50_ms=round(timings[len(timings) // 2] * 1000, 1),
        cpu_seconds=seen.cpu,
        caught_up_pct=seen.caught_up_pct,
    )


async def per_user_workload(
    instances,
    token: str,
    users: dict,
    sizes: Sizes,
    per_call: int,
    workers: int,
    observed,
    protocol: str = "json",
    system: str | None = None,
) -> dict:
    """W2: status events round-robin over users, one client per user, published over every instance."""
    names = sorted(users)
    how = "one event a call" if per_call == 1 else f"batches of {per_call}"
    name = f"W2 per-user (ours, {instances_label(len(instances))}{LABELS[protocol]}, {how}, {workers} publishers)"
    urls = [instance.url for instance in instances]
    per_client = sizes.per_user_events // len(names)
    case = "W2" if per_call > 1 else "W2 one a call"
    return await publish_statuses(
        name, instances, urls, token, users, names, per_client, per_call, workers, observed, protocol, system, case
    )


# --- W4 ------------------------------------------------------------------------------------


async def publish_workload(instances, token: str, users: dict, sizes: Sizes, observed) -> list[dict]:
    """W4: `POST /api/v1/events/` to one instance by 1, 8 and 32 publishers: throughput, latency to the socket."""
    names = sorted(users)[:32]
    per_client = max(1, sizes.publish_events // len(names))
    return [
        await publish_statuses(
            f"W4 publish, {workers} publisher(s), 1 instance",
            instances,
            [instances[0].url],
            token,
            users,
            names,
            per_client,
            1,
            workers,
            observed,
            system="ours-1" if workers == 32 else None,  # one event per POST to one instance, stored/s
            case="W2 one a call",
        )
        for workers in (1, 8, 32)
    ]


# --- W3 ------------------------------------------------------------------------------------


async def idle_connections(instance, token: str, names: list[str], count: int, observed) -> dict:
    """W3: hold `count` authenticated idle sockets on one instance; connect rate and memory per connection."""
    usernames = [names[i % len(names)] for i in range(count)]
    clients = await notify_clients([instance], token, usernames)
    before = rss_kib(instance.pid)
    load = LoadGenerator(clients, "notify", expect=0, timeout=600)
    with observed(f"W3 idle connections ({count})", load) as seen:
        connect_secs = load.wait_ready(timeout=600)
    after = rss_kib(instance.pid)
    load.stop()
    row = {
        "workload": f"W3 idle connections (ours, 1 instance, {count})",
        "system": "ours-1",
        "case": "W3",
        "protocol": "json",
        "delivered": count,
        "connect_secs": round(connect_secs, 1),
        "connect_per_sec": round(count / max(1e-9, connect_secs)),
        "kib_per_connection": round((after - before) / count, 1),
        "cpu_seconds": seen.cpu,
        "load_1min": round(os.getloadavg()[0], 1),
    }
    print(json.dumps(row), flush=True)
    return row


async def one_instance_broadcasts(instances, token: str, names: list[str], sizes: Sizes, observed) -> list[dict]:
    """W1 with every client on A: published on A (one instance), then on B (what a load balancer does)."""
    on_a = instances[:1]
    rows = await product_broadcasts("ours, 1 instance", on_a, token, names, sizes, observed, system="ours-1")
    label = "ours, 2 instances, sockets on A, published on B"
    return rows + await product_broadcasts(
        label, on_a, token, names, sizes, observed, publish_on=instances[1], system="ours-2"
    )


# --- the product, and the baselines ---------------------------------------------------------


def workload_name(workload: str, protocol: str) -> str:
    """Return the `--only` name of a workload over a protocol: W1, W1-stomp, W2-mqtt..."""
    return workload if protocol == "json" else f"{workload}-{protocol}"


async def ours(
    workdir: Path, sizes: Sizes, only: set[str], profile_dir: Path | None = None, server: str = "daphne"
) -> list[dict]:
    """Every selected workload on two instances of the product, served by `server` (daphne, or uvicorn to compare)."""
    rows: list[dict] = []
    with Deployment(
        workdir / "ours", amqp_url=AMQP_URL, database_url=DATABASE_URL, extra_env={**LONG_TICKETS, **OVERRIDES}
    ) as app:
        instances = [app.instance("A", server=server), app.instance("B", server=server)]
        token = app.create_service_token("bench", "publish", "broadcast")
        users = create_users(app, sizes.clients, with_requests=True)
        names = sorted(users)

        observed = observing(instances, profile_dir)
        # Each workload over JSON, STOMP and MQTT one after the other: rows to compare run close in time.
        for protocol in PROTOCOLS:
            if workload_name("W1", protocol) in only:
                label = "ours, 2 instances"
                rows += await product_broadcasts(label, instances, token, names, sizes, observed, protocol)
        if "W1" in only:
            rows += await one_instance_broadcasts(instances, token, names, sizes, observed)
        for per_call, workers in ((sizes.batch, 8), (1, 32)):
            for protocol in PROTOCOLS:
                if workload_name("W2", protocol) in only:
                    system = "ours-2" if protocol == "json" else None
                    rows.append(
                        await per_user_workload(
                            instances, token, users, sizes, per_call, workers, observed, protocol, system
                        )
                    )
        if "W2" in only:
            one = instances[:1]
            rows.append(await per_user_workload(one, token, users, sizes, sizes.batch, 8, observed, system="ours-1"))
        if "W4" in only:
            rows += await publish_workload(instances, token, users, sizes, observed)
        if "W3" in only:
            rows.append(await idle_connections(instances[0], token, names, sizes.idle_connections, observed))
    return rows


async def baseline_redis(workdir: Path, sizes: Sizes) -> list[dict]:
    """W1 with the full product on channels_redis's pub/sub layer."""
    with Deployment(workdir / "redis", amqp_url="", database_url=DATABASE_URL) as redis:
        env = {"DJANGO_SETTINGS_MODULE": "bench.redis_settings"}
        instances = [redis.instance("A", env=env), redis.instance("B", env=env)]
        token = redis.create_service_token("bench", "publish", "broadcast")
        names = sorted(create_users(redis, sizes.clients, with_requests=False))
        label = "ours on channels_redis, 2 instances"
        return await product_broadcasts(label, instances, token, names, sizes, observing(instances))


async def baseline_naive(workdir: Path, sizes: Sizes) -> list[dict]:
    """W1 and W2 with the naive forwarder on channels-rabbitmq's defaults."""
    env = {**os.environ, "NOTIFY_AMQP_URL": AMQP_URL, "DJANGO_SETTINGS_MODULE": "bench.naive_settings"}
    env.pop("DATABASE_URL", None)
    instances = [
        DaphneInstance(name, env, workdir / "naive", application="bench.naive_asgi:application").start()
        for name in ("A", "B")
    ]
    try:
        for instance in instances:
            instance.wait_ready()
        groups = [f"naive.user.{i}" for i in range(sizes.clients)]
        clients = [
            {"url": f"{instances[i % 2].ws_url}/ws/?group={group}", "origin": instances[i % 2].origin}
            for i, group in enumerate(groups)
        ]

        async def same_clients() -> list[dict]:
            return clients

        label = "naive forwarder, 2 instances"
        observed = observing(instances, ours=False)
        rows = await broadcast_workload(
            label,
            instances[0].url,
            same_clients,
            "naive",
            sizes,
            "/publish",
            naive_announcement,
            {},
            observed,
            system="naive",
        )
        per_client = sizes.per_user_events // len(groups)
        load = LoadGenerator(clients, "naive", expect=per_client, timeout=120)
        load.wait_ready()
        messages = [(groups[i % len(groups)], i) for i in range(per_client * len(groups))]
        urls = [instance.url for instance in instances]
        name = f"W2 per-user ({label}, one message a call, 32 publishers)"
        with observed(name, load) as seen:
            started, _ = await post_as_fast(urls, {}, in_calls(messages, 1), 32, naive_call)
            result = load.finish(120)
        rows.append(summarize(name, result, started, "json", "naive", "W2", cpu_seconds=seen.cpu))
        return rows
    finally:
        for instance in instances:
            instance.terminate()
