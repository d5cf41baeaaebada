"""W1, W2 and W3 on each peer, in the same run as ours: the same load generator, sizes and order checks.

Every peer is one server process. The broker-backed ones share one private
RabbitMQ node (`WebStompNode`), started for them and stopped after them.
"""

import asyncio
import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..loadgen import CLIENTS
from ..processes import LoadGenerator, rss_kib
from ..workloads import Sizes, observing, summarize
from .publishers import (
    BROADCAST,
    BarePublisher,
    PeerPublisher,
    SocketioPublisher,
    WebStompPublisher,
    send_as_fast,
    send_at_rate,
)
from .servers import bare_server, socketio_server
from .webstomp_node import WebStompNode

PROBE_USER = "probe"
PROBE_ATTEMPTS = 60
PROBE_WAIT_SECS = 0.5


@dataclass(frozen=True)
class Served:
    """The process a peer's sockets are served by: its CPU and memory are the peer's."""

    name: str
    pid: int


@dataclass(frozen=True)
class Peer:
    system: str  # the ratio table's column (bench/ratios.py)
    label: str  # in row names
    protocol: str  # the load generator's client kind
    url: Callable[[str], str]  # a user's socket URL
    process: Served
    publisher: Callable[[], PeerPublisher]

    def clients(self, users: list[str]) -> list[dict]:
        return [{"url": self.url(user), "user": user} for user in users]


async def check_delivering(peer: Peer) -> None:
    """Return once a message to a probe socket arrives: the peer's fan-out path is bound (socket.io binds lazily)."""
    client = CLIENTS[peer.protocol]({"url": peer.url(PROBE_USER), "user": PROBE_USER}, {"expect": 1})
    await client.open(asyncio.Semaphore(1))
    publisher = await peer.publisher().open()
    reading = asyncio.ensure_future(client.read(1))
    try:
        for _ in range(PROBE_ATTEMPTS):
            await publisher.send(f"user.{PROBE_USER}")
            done, _ = await asyncio.wait({reading}, timeout=PROBE_WAIT_SECS)
            if done:
                reading.result()
                return
        raise RuntimeError(f"{peer.label}: no probe message arrived in {PROBE_ATTEMPTS * PROBE_WAIT_SECS:.0f}s")
    finally:
        reading.cancel()
        await publisher.close()
        await client.ws.close()


async def broadcasts(peer: Peer, users: list[str], sizes: Sizes, observed) -> list[dict]:
    """W1: broadcasts to every socket, saturated and at 1 a second, from the peer's own publisher."""
    rows = []
    for count, rate, case in (
        (sizes.broadcasts, sizes.broadcast_rate, "W1 saturated"),
        (sizes.slow_broadcasts, 1.0, "W1 at 1/s"),
    ):
        name = f"{case} ({peer.label})"
        load = LoadGenerator(peer.clients(users), peer.protocol, expect=count, timeout=120 + count / rate)
        load.wait_ready()
        publisher = await peer.publisher().open()
        with observed(name, load) as seen:
            started = await send_at_rate(publisher, BROADCAST, count, rate)
            await publisher.close()
            result = load.finish(timeout=120)
        rows.append(summarize(name, result, started, peer.protocol, peer.system, case, cpu_seconds=seen.cpu))
    return rows


async def per_user(peer: Peer, users: list[str], sizes: Sizes, observed) -> dict:
    """W2: per-user messages round-robin over the users, one socket each, sent as fast as the publisher goes."""
    per_client = sizes.per_user_events // len(users)
    streams = [f"user.{users[i % len(users)]}" for i in range(per_client * len(users))]
    name = f"W2 per-user ({peer.label}, one message a publish)"
    load = LoadGenerator(peer.clients(users), peer.protocol, expect=per_client, timeout=300)
    load.wait_ready()
    publisher = await peer.publisher().open()
    with observed(name, load) as seen:
        started = await send_as_fast(publisher, streams, in_flight=min(32, len(users)))
        await publisher.close()
        published_secs = max(1e-9, time.time() - started)
        result = load.finish(timeout=300)
    rate = round(len(streams) / published_secs)
    return summarize(name, result, started, peer.protocol, peer.system, "W2", posts_per_sec=rate, cpu_seconds=seen.cpu)


def idle(peer: Peer, count: int, observed) -> dict:
    """W3: `count` idle sockets on the peer's one process; connect rate and its memory per socket."""
    before = rss_kib(peer.process.pid)
    load = LoadGenerator(peer.clients([str(i) for i in range(count)]), peer.protocol, expect=0, timeout=600)
    name = f"W3 idle connections ({peer.label}, {count})"
    with observed(name, load) as seen:
        connect_secs = load.wait_ready(timeout=600)
    after = rss_kib(peer.process.pid)
    load.stop()
    row = {
        "workload": name,
        "protocol": peer.protocol,
        "delivered": count,
        "connect_secs": round(connect_secs, 1),
        "connect_per_sec": round(count / max(1e-9, connect_secs)),
        "kib_per_connection": round((after - before) / count, 1),
        "cpu_seconds": seen.cpu,
        "load_1min": round(os.getloadavg()[0], 1),
        "system": peer.system,
        "case": "W3",
    }
    print(json.dumps(row), flush=True)
    return row


async def measure(peer: Peer, sizes: Sizes) -> list[dict]:
    """Every workload on one peer."""
    await check_delivering(peer)
    observed = observing([peer.process], ours=False)
    users = [str(i) for i in range(sizes.clients)]
    rows = await broadcasts(peer, users, sizes, observed)
    rows.append(await per_user(peer, users, sizes, observed))
    rows.append(idle(peer, sizes.idle_connections, observed))
    return rows


async def peers(workdir: Path, sizes: Sizes, only: set[str]) -> list[dict]:
    """The selected peers (`webstomp`, `socketio`, `bare`), one after the other."""
    rows: list[dict] = []
    if only & {"webstomp", "socketio"}:
        with WebStompNode(workdir / "rabbit") as node:
            broker = Served("webstomp node", node.pid)
            if "webstomp" in only:
                rows += await measure(webstomp(node, broker), sizes)
            if "socketio" in only:
                exchange = "bench.socketio." + secrets.token_hex(4)
                with socketio_server(workdir / "socketio", node.url, exchange) as server:
                    rows += await measure(socketio(server, node.url, exchange), sizes)
    if "bare" in only:
        with bare_server(workdir / "bare") as server:
            rows += await measure(bare(server), sizes)
    return rows


def webstomp(node: WebStompNode, broker: Served) -> Peer:
    return Peer(
        "webstomp",
        "RabbitMQ Web-STOMP, 1 node",
        "webstomp",
        lambda user: node.ws_url,
        broker,
        lambda: WebStompPublisher(node.url),
    )


def socketio(server, amqp_url: str, exchange: str) -> Peer:
    return Peer(
        "socketio",
        "python-socketio + aio-pika on uvicorn, 1 process",
        "socketio",
        lambda user: f"{server.ws_url}/socket.io/?EIO=4&transport=websocket",
        Served("socketio", server.pid),
        lambda: SocketioPublisher(amqp_url, exchange),
    )


def bare(server) -> Peer:
    return Peer(
        "bare",
        "bare websockets, 1 process",
        "bare",
        lambda user: f"{server.ws_url}/?user={user}",
        Served("bare", server.pid),
        lambda: BarePublisher(server.ws_url),
    )
