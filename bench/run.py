"""Run the benchmark: real daphne instances, a separate load-generator process, baselines in the same run.

    .venv/bin/python -m bench.run            # full workloads, writes docs/benchmarks.md
    .venv/bin/python -m bench.run --short    # CI smoke: small numbers, asserts nothing lost or duplicated

Needs RabbitMQ (127.0.0.1:5672), Redis (127.0.0.1:6379, for the channels_redis
baseline) and PostgreSQL (BENCH_DATABASE_URL, default the local `test` server).
"""

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.integration.harness import DaphneInstance, Deployment

from .population import create_users, issue_tickets

ROOT = Path(__file__).resolve().parent.parent
AMQP_URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")


@dataclass
class Sizes:
    clients: int
    broadcasts: int
    broadcast_rate: float
    slow_broadcasts: int
    per_user_events: int
    idle_connections: int
    publish_events: int


FULL = Sizes(1000, 200, 50, 20, 10_000, 10_000, 600)
SHORT = Sizes(40, 20, 20, 5, 400, 200, 60)


# --- processes -------------------------------------------------------------------


class LoadGenerator:
    """The load-generator subprocess: connect, report READY, collect, write a result file."""

    def __init__(self, clients: list[dict], protocol: str, expect: int, timeout: float):
        self.dir = Path(tempfile.mkdtemp(prefix="bench-"))
        spec = {"clients": clients, "protocol": protocol, "expect": expect, "timeout": timeout}
        (self.dir / "spec.json").write_text(json.dumps(spec))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.loadgen", str(self.dir / "spec.json"), str(self.dir / "result.json")],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def wait_ready(self, timeout: float = 180) -> float:
        started = time.time()
        line = self.process.stdout.readline()
        if not line.startswith("READY"):
            raise RuntimeError(f"load generator did not connect: {line!r}")
        if time.time() - started > timeout:
            raise RuntimeError("load generator took too long to connect")
        return time.time() - started

    def finish(self, timeout: float) -> dict:
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.stdin.write("stop\n")
            self.process.stdin.flush()
            self.process.wait(timeout=60)
        return json.loads((self.dir / "result.json").read_text())

    def stop(self) -> dict:
        self.process.stdin.write("stop\n")
        self.process.stdin.flush()
        return self.finish(60)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# --- publishers --------------------------------------------------------------------


async def post_at_rate(base_url: str, path: str, count: int, rate: float, body, headers: dict) -> float:
    """POST `count` bodies at `rate` a second (each at its own time, concurrently); return the start time."""
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60, trust_env=False) as http:
        started = time.time()

        async def one(i: int) -> None:
            await asyncio.sleep(max(0.0, started + i / rate - time.time()))
            answer = await http.post(path, **body(i))
            assert answer.status_code in (200, 202), answer.text

        await asyncio.gather(*(one(i) for i in range(count)))
    return started


async def post_as_fast(base_url: str, token: str, bodies: list[dict], workers: int) -> tuple[float, list[float]]:
    """POST status events with `workers` concurrent publishers; return the start time and each call's seconds."""
    queue = list(reversed(bodies))
    timings: list[float] = []
    headers = {"Authorization": f"Token {token}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60, trust_env=False) as http:
        started = time.time()

        async def worker() -> None:
            while queue:
                body = queue.pop()
                body["message"] = repr(time.time())
                before = time.monotonic()
                answer = await http.post("/api/v1/events/", json=body)
                timings.append(time.monotonic() - before)
                assert answer.status_code == 202, answer.text

        await asyncio.gather(*(worker() for _ in range(workers)))
    return started, timings


def announcement(i: int) -> dict:
    return {"json": {"title": f"bench {i}", "body": repr(time.time())}}


def naive_message(i: int) -> dict:
    return {"content": json.dumps({"id": i, "t": time.time()})}


# --- workloads ------------------------------------------------------------------------


def summarize(name: str, result: dict, started: float, **extra) -> dict:
    span = max(1e-9, result["last_receipt"] - started)
    row = {
        "workload": name,
        "delivered": result["unique"],
        "expected": result["expected"],
        "lost": result["lost"],
        "duplicated": result["duplicated"],
        "per_sec": round(result["unique"] / span),
        **result["latency_ms"],
        **extra,
    }
    print(json.dumps(row), flush=True)
    return row


async def notify_clients(deployment, instances, token: str, usernames: list[str]) -> list[dict]:
    tickets = await issue_tickets(instances[0].url, token, usernames)
    return [
        {
            "url": f"{instances[i % len(instances)].ws_url}/ws/notifications/?ticket={ticket}",
            "origin": instances[i % len(instances)].origin,
        }
        for i, ticket in enumerate(tickets)
    ]


async def broadcast_workload(
    label, instances, fresh_clients, protocol, sizes, publish_path, body, headers
) -> list[dict]:
    """W1: announcements to every client, saturated and at 1 a second; `fresh_clients()` gives new tickets.

    `label` None means W1 was not selected.
    """
    rows = []
    if label is None:
        return rows
    for count, rate, name in (
        (sizes.broadcasts, sizes.broadcast_rate, "W1 saturated"),
        (sizes.slow_broadcasts, 1.0, "W1 at 1/s"),
    ):
        load = LoadGenerator(await fresh_clients(), protocol, expect=count, timeout=120 + count / rate)
        load.wait_ready()
        started = await post_at_rate(instances[0].url, publish_path, count, rate, body, headers)
        rows.append(summarize(f"{name} ({label})", load.finish(timeout=120), started))
    return rows


WORKLOADS = ("W1", "W2", "W3", "W4", "baselines")


async def run(sizes: Sizes, workdir: Path, only: set[str]) -> list[dict]:
    rows: list[dict] = []
    # W3 issues all its tickets before it connects: let them outlive the issuing.
    ticket_ttl = {"NOTIFY_TICKET_TTL_SECS": "1800"}
    with Deployment(workdir / "ours", amqp_url=AMQP_URL, database_url=DATABASE_URL, extra_env=ticket_ttl) as ours:
        instances = [ours.instance("A"), ours.instance("B")]
        token = ours.create_service_token("bench", "publish", "broadcast")
        users = create_users(ours, sizes.clients, with_requests=True)
        names = sorted(users)
        headers = {"Authorization": f"Token {token}"}

        rows += await broadcast_workload(
            "ours, 2 instances" if "W1" in only else None,
            instances,
            lambda: notify_clients(ours, instances, token, names),
            "notify",
            sizes,
            "/api/v1/broadcasts/",
            announcement,
            headers,
        )

        if "W2" in only:
            rows.append(await per_user_workload(ours, instances, token, users, sizes))
        if "W4" in only:
            rows += await publish_workload(ours, instances, token, users, sizes)
        if "W3" in only:
            rows.append(await idle_connections(ours, instances[0], token, names, sizes.idle_connections))

    if "baselines" in only:
        rows += await baseline_redis(workdir, sizes)
        rows += await baseline_naive(workdir, sizes)
    return rows


async def per_user_workload(ours, instances, token: str, users: dict, sizes: Sizes) -> dict:
    """W2: status events round-robin over users, one client per user, 32 publishers as fast as they go."""
    names = sorted(users)
    clients = await notify_clients(ours, instances, token, names)
    load = LoadGenerator(clients, "notify", expect=sizes.per_user_events // len(names), timeout=300)
    load.wait_ready()
    bodies = [
        {"request": users[names[i % len(names)]], "status": "processing", "progress": i % 100}
        for i in range(sizes.per_user_events - sizes.per_user_events % len(names))
    ]
    started, _ = await post_as_fast(instances[0].url, token, bodies, workers=32)
    return summarize("W2 per-user (ours, 2 instances)", load.finish(timeout=300), started)


async def publish_workload(ours, instances, token: str, users: dict, sizes: Sizes) -> list[dict]:
    """W4: publish throughput and latency to the socket with 1, 8 and 32 concurrent publishers."""
    names = sorted(users)
    rows = []
    for workers in (1, 8, 32):
        subset = names[:32]
        clients = await notify_clients(ours, instances, token, subset)
        per_client = max(1, sizes.publish_events // len(subset))
        load = LoadGenerator(clients, "notify", expect=per_client, timeout=300)
        load.wait_ready()
        bodies = [
            {"request": users[subset[i % len(subset)]], "status": "processing", "progress": i % 100}
            for i in range(per_client * len(subset))
        ]
        started, timings = await post_as_fast(instances[0].url, token, bodies, workers=workers)
        post_secs = max(1e-9, time.time() - started)
        timings.sort()
        rows.append(
            summarize(
                f"W4 publish, {workers} publisher(s)",
                load.finish(timeout=300),
                started,
                posts_per_sec=round(len(bodies) / post_secs),
                post_p50_ms=round(timings[len(timings) // 2] * 1000, 1),
            )
        )
    return rows


async def idle_connections(deployment, instance, token: str, names: list[str], count: int) -> dict:
    """W3: hold `count` authenticated idle sockets on one instance; memory per connection."""
    usernames = [names[i % len(names)] for i in range(count)]
    clients = await notify_clients(deployment, [instance], token, usernames)
    before = rss_kib(instance.pid)
    load = LoadGenerator(clients, "notify", expect=0, timeout=600)
    connect_secs = load.wait_ready(timeout=600)
    after = rss_kib(instance.pid)
    load.stop()
    row = {
        "workload": f"W3 idle connections (ours, 1 instance, {count})",
        "delivered": count,
        "connect_per_sec": round(count / max(1e-9, connect_secs)),
        "kib_per_connection": round((after - before) / count, 1),
    }
    print(json.dumps(row), flush=True)
    return row


async def baseline_redis(workdir: Path, sizes: Sizes) -> list[dict]:
    with Deployment(workdir / "redis", amqp_url="", database_url=DATABASE_URL) as redis:
        env = {"DJANGO_SETTINGS_MODULE": "bench.redis_settings"}
        instances = [redis.instance("A", env=env), redis.instance("B", env=env)]
        token = redis.create_service_token("bench", "publish", "broadcast")
        names = sorted(create_users(redis, sizes.clients, with_requests=False))
        headers = {"Authorization": f"Token {token}"}
        return await broadcast_workload(
            "ours on channels_redis, 2 instances",
            instances,
            lambda: notify_clients(redis, instances, token, names),
            "notify",
            sizes,
            "/api/v1/broadcasts/",
            announcement,
            headers,
        )


async def baseline_naive(workdir: Path, sizes: Sizes) -> list[dict]:
    env = {**os.environ, "NOTIFY_AMQP_URL": AMQP_URL, "DJANGO_SETTINGS_MODULE": "bench.naive_settings"}
    env.pop("DATABASE_URL", None)
    instances = [
        DaphneInstance(name, env, workdir / "naive", application="bench.naive_asgi:application").start()
        for name in ("A", "B")
    ]
    try:
        for instance in instances:
            instance.wait_ready()
        clients = [
            {"url": f"{instances[i % 2].ws_url}/ws/", "origin": instances[i % 2].origin} for i in range(sizes.clients)
        ]

        async def same_clients() -> list[dict]:
            return clients

        return await broadcast_workload(
            "naive forwarder, 2 instances", instances, same_clients, "naive", sizes, "/publish", naive_message, {}
        )
    finally:
        for instance in instances:
            instance.terminate()


# --- report ------------------------------------------------------------------------------


def versions() -> str:
    from importlib.metadata import version

    import channels
    import daphne
    import django

    return (
        f"Python {platform.python_version()}, Django {django.get_version()}, channels {channels.__version__}, "
        f"daphne {daphne.__version__}, channels-rabbitmq {version('channels-rabbitmq')}, "
        f"channels-redis {version('channels-redis')}"
    )


def machine() -> str:
    memory = Path("/proc/meminfo").read_text().split()[1]
    return f"{os.cpu_count()} cores, {int(memory) // 1024 // 1024} GiB, {platform.platform()}"


def table(rows: list[dict]) -> str:
    columns = [
        "workload",
        "expected",
        "delivered",
        "lost",
        "duplicated",
        "per_sec",
        "p50",
        "p95",
        "p99",
        "max",
        "posts_per_sec",
        "post_p50_ms",
        "connect_per_sec",
        "kib_per_connection",
    ]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join("" if row.get(c) is None else str(row.get(c)) for c in columns) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--short", action="store_true", help="small numbers; fail on any loss or duplicate")
    parser.add_argument("--write", default=None, help="write the table into this markdown file")
    parser.add_argument("--only", nargs="+", choices=WORKLOADS, default=list(WORKLOADS), help="workloads to run")
    args = parser.parse_args()
    sizes = SHORT if args.short else FULL
    workdir = Path(tempfile.mkdtemp(prefix="bench-run-"))
    print(f"instance logs: {workdir}", flush=True)
    rows = asyncio.run(run(sizes, workdir, set(args.only)))
    shutil.rmtree(workdir, ignore_errors=True)
    report = table(rows)
    print(report)
    if args.write:
        command = "python -m bench.run" + (" --short" if args.short else "") + f" --write {args.write}"
        Path(args.write).write_text(
            f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine()}; {versions()}.\n"
            f"Command: `{command}`\n\n{report}\n"
        )
    bad = [r["workload"] for r in rows if r.get("lost") or r.get("duplicated")]
    ours_bad = [name for name in bad if "naive" not in name]
    if ours_bad:
        sys.exit(f"lost or duplicated deliveries in: {', '.join(ours_bad)}")


if __name__ == "__main__":
    main()
