"""The load generator: a separate process of asyncio WebSocket clients.

    python -m bench.loadgen SPEC.json RESULT.json

SPEC: {"clients": [{"url": ..., "origin": ...}], "protocol": "notify"|"naive",
"expect": deliveries expected per client (0: hold idle), "timeout": seconds}.
It connects every client, prints `READY <n>` on stdout, then records each
delivery's id and latency (now minus the publish time the publisher put in
the event) until every client has `expect` deliveries, `timeout` passes, or
a line arrives on stdin. RESULT gets counts and latency percentiles.
"""

import asyncio
import json
import sys
import threading
import time

from websockets.asyncio.client import connect

CONNECT_CONCURRENCY = 50


def publish_time(frame: dict) -> float | None:
    """Return the publish time the benchmark put in the event (announcement body or status message)."""
    text = frame.get("body") or frame.get("message") or frame.get("t")
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


class Client:
    def __init__(self, spec: dict, protocol: str):
        self.spec = spec
        self.protocol = protocol
        self.ids: list[str] = []
        self.latencies: list[float] = []
        self.ws = None
        self.last_at = 0.0

    async def open(self, gate: asyncio.Semaphore) -> None:
        async with gate:
            self.ws = await connect(self.spec["url"], origin=self.spec.get("origin"), open_timeout=60, max_size=2**20)
            if self.protocol == "notify":
                welcome = json.loads(await self.ws.recv())
                await self.ws.send(json.dumps({"type": "resume", "cursor": welcome["cursor"]}))
                while json.loads(await self.ws.recv())["type"] != "replayed":
                    pass

    async def read(self, expect: int) -> None:
        while len(self.ids) < expect:
            raw = await self.ws.recv()
            received = time.time()
            frame = json.loads(raw)
            if self.protocol == "notify" and frame.get("type") != "event":
                continue
            self.ids.append(str(frame["id"]))
            self.last_at = received
            sent = publish_time(frame)
            if sent is not None:
                self.latencies.append(received - sent)


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def wait_for_stop_line() -> None:
    """Return when the parent writes a line (or closes stdin); a daemon thread, so exit never waits on it."""
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()

    def read() -> None:
        sys.stdin.readline()
        loop.call_soon_threadsafe(stopped.set)

    threading.Thread(target=read, daemon=True).start()
    await stopped.wait()


async def main(spec_path: str, result_path: str) -> None:
    spec = json.load(open(spec_path))
    clients = [Client(c, spec["protocol"]) for c in spec["clients"]]
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    started = time.time()
    await asyncio.gather(*(c.open(gate) for c in clients))
    connect_secs = time.time() - started
    print(f"READY {len(clients)}", flush=True)
    readers = asyncio.gather(*(c.read(spec["expect"]) for c in clients)) if spec["expect"] else None
    waiters = [asyncio.ensure_future(wait_for_stop_line())] + ([readers] if readers else [])
    await asyncio.wait(waiters, timeout=spec["timeout"], return_when=asyncio.FIRST_COMPLETED)
    latencies = [x for c in clients for x in c.latencies]
    received = sum(len(c.ids) for c in clients)
    unique = sum(len(set(c.ids)) for c in clients)
    result = {
        "clients": len(clients),
        "connect_secs": round(connect_secs, 2),
        "received": received,
        "unique": unique,
        "duplicated": received - unique,
        "expected": spec["expect"] * len(clients),
        "lost": max(0, spec["expect"] * len(clients) - unique) if spec["expect"] else 0,
        "latency_ms": {
            name: None if (v := percentile(latencies, share)) is None else round(v * 1000, 1)
            for name, share in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("max", 1.0))
        },
        "last_receipt": max((c.last_at for c in clients), default=0.0),
    }
    json.dump(result, open(result_path, "w"))
    await asyncio.wait([asyncio.ensure_future(c.ws.close()) for c in clients], timeout=30)
    print("DONE", flush=True)
    sys.stdout.flush()


if __name__ == "__main__":
    # uvloop halves the generator's CPU per message; it shares the cores with the servers it measures.
    import uvloop

    uvloop.run(main(sys.argv[1], sys.argv[2]))
