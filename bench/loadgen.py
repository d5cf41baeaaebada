"""The load generator: a separate process of asyncio WebSocket clients.

    python -m bench.loadgen SPEC.json RESULT.json

SPEC: {"clients": [{"url": ..., "origin": ..., "ticket": ..., "qos": ..., "user": ...}],
"protocol": "notify"|"stomp"|"mqtt"|"naive"|"bare"|"socketio"|"webstomp", "expect":
deliveries expected per client (0: hold idle), "timeout": seconds}; an MQTT client's
"qos" (default 0) is the QoS it subscribes with (at 1 it answers every PUBLISH with
PUBACK); a peer's client (bench/peers/) names its "user".
It connects every client (JSON: resumes from the welcome's cursor; STOMP:
CONNECT with the ticket as passcode, SUBSCRIBE `/user/queue/notifications`
with ack auto and a receipt; MQTT: CONNECT with the ticket as password,
SUBSCRIBE `notify/me/#`; the peers' clients as their classes say), prints
`READY <n>` on stdout, then records each delivery's id, cursor or stream
sequence number and latency (now minus the publish time the publisher put in
the event) until every client has `expect` deliveries, `timeout` passes, or a
line arrives on stdin. RESULT gets counts (lost, duplicated, out of order: a
cursor not greater than the socket's previous one, or a `seq` not greater
than the previous one of its `stream` on that socket) and latency percentiles.
"""

import asyncio
import json
import sys
import threading
import time

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedOK

from . import framing

CONNECT_CONCURRENCY = 50


def publish_time(frame: dict) -> float | None:
    """Return the publish time the benchmark put in the event (announcement body or status message)."""
    text = frame.get("body") or frame.get("message") or frame.get("t")
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


class Client:
    """One socket of the load: opens in its protocol, then records every event object it reads."""

    subprotocols: list[str] | None = None

    def __init__(self, spec: dict, options: dict):
        self.spec = spec
        self.options = options
        self.ids: list[str] = []
        self.latencies: list[float] = []
        self.out_of_order = 0
        self.last_cursor = ""
        self.last_seqs: dict[str, int] = {}
        self.ws = None
        self.last_at = 0.0

    async def open(self, gate: asyncio.Semaphore) -> None:
        async with gate:
            self.ws = await connect(
                self.spec["url"],
                origin=self.spec.get("origin"),
                subprotocols=self.subprotocols,
                open_timeout=60,
                max_size=2**20,
            )
            await self.start()

    async def start(self) -> None:
        """Whatever the protocol needs before events may be published (resume, subscribe)."""

    def events(self, raw) -> list[dict]:
        """Return the event objects one WebSocket message carries."""
        return [json.loads(raw)]

    async def read(self, expect: int) -> None:
        while len(self.ids) < expect:
            raw = await self.ws.recv()
            received = time.time()
            for event in self.events(raw):
                self.record(event, received)

    def record(self, event: dict, received: float) -> None:
        self.ids.append(str(event["id"]))
        self.last_at = received
        cursor = event.get("cursor")
        if cursor is not None:  # cursors are fixed-width strings whose order is the stream's (PROTOCOL 1)
            if cursor <= self.last_cursor:
                self.out_of_order += 1
            self.last_cursor = cursor
        seq = event.get("seq")
        if seq is not None:  # a peer's per-stream sequence number, stamped by its publisher (bench/peers/)
            if seq <= self.last_seqs.get(event["stream"], -1):
                self.out_of_order += 1
            self.last_seqs[event["stream"]] = seq
        sent = publish_time(event)
        if sent is not None:
            self.latencies.append(received - sent)


class NaiveClient(Client):
    """The naive forwarder's socket: every message is one forwarded object."""


class JsonClient(Client):
    """Section 1: resume from the welcome's cursor, wait for `replayed`, then read `event` frames."""

    async def start(self) -> None:
        welcome = json.loads(await self.ws.recv())
        await self.ws.send(json.dumps({"type": "resume", "cursor": welcome["cursor"]}))
        while json.loads(await self.ws.recv())["type"] != "replayed":
            pass

    def events(self, raw) -> list[dict]:
        frame = json.loads(raw)
        return [frame] if frame.get("type") == "event" else []


class StompClient(Client):
    """Section 4.1: CONNECT with the ticket as passcode, SUBSCRIBE the whole stream, read MESSAGE bodies."""

    subprotocols = framing.STOMP_SUBPROTOCOLS

    async def start(self) -> None:
        await self.ws.send(framing.stomp_connect(self.spec.get("ticket")))
        await self._expect("CONNECTED")
        await self.ws.send(framing.stomp_subscribe("0", receipt="subscribed"))
        await self._expect("RECEIPT")

    async def _expect(self, command: str) -> None:
        while True:
            for got, headers, body in framing.stomp_frames(await self.ws.recv()):
                if got == command:
                    return
                raise RuntimeError(f"STOMP {got} instead of {command}: {headers} {body[:200]!r}")

    def events(self, raw) -> list[dict]:
        events = []
        for command, headers, body in framing.stomp_frames(raw):
            if command != "MESSAGE":
                raise RuntimeError(f"STOMP {command} while reading events: {headers} {body[:200]!r}")
            event = json.loads(body)
            if headers.get("message-id") != event["id"] or headers.get("cursor") != event["cursor"]:
                raise RuntimeError(f"MESSAGE headers do not match its event: {headers} {body[:200]!r}")
            events.append(event)
        return events


class MqttClient(Client):
    """Section 4.3: CONNECT (clean session) with the ticket as password, SUBSCRIBE `notify/me/#`, read PUBLISH."""

    subprotocols = framing.MQTT_SUBPROTOCOLS

    async def start(self) -> None:
        self.reader = framing.MqttReader()
        self.qos = int(self.spec.get("qos", self.options.get("qos", 0)))
        await self.ws.send(framing.mqtt_connect(self.spec["ticket"]))
        [(kind, _, body)] = await self._packets()
        if kind != framing.CONNACK or body[1] != 0:
            raise RuntimeError(f"MQTT CONNACK refused: {kind} {body!r}")
        await self.ws.send(framing.mqtt_subscribe(1, qos=self.qos))
        [(kind, _, body)] = await self._packets()
        if kind != framing.SUBACK or body[2] == framing.SUBSCRIPTION_FAILURE:
            raise RuntimeError(f"MQTT SUBSCRIBE refused: {kind} {body!r}")

    async def _packets(self) -> list:
        while not (packets := self.reader.feed(await self.ws.recv())):
            pass
        return packets

    async def read(self, expect: int) -> None:
        while len(self.ids) < expect:
            raw = await self.ws.recv()
            received = time.time()
            for kind, flags, body in self.reader.feed(raw):
                if kind != framing.PUBLISH:
                    continue
                _, qos, packet_id, _, payload = framing.publish_parts(flags, body)
                if qos:
                    await self.ws.send(framing.mqtt_puback(packet_id))
                self.record(json.loads(payload), received)


# --- the peers (bench/peers/): each message is one object {"id", "stream", "seq", "t"} ----------


class BareClient(Client):
    """The bare websockets server's socket (`/?user=N`): every message is one published object."""


class WebStompClient(StompClient):
    """RabbitMQ Web-STOMP: CONNECT as the broker's user, SUBSCRIBE `/topic/user.N` and `/topic/broadcast`."""

    async def start(self) -> None:
        await self.ws.send(framing.stomp_connect("guest", login="guest", host="/"))
        await self._expect("CONNECTED")
        await self.ws.send(framing.stomp_subscribe("0", f"/topic/user.{self.spec['user']}"))
        await self.ws.send(framing.stomp_subscribe("1", "/topic/broadcast", receipt="subscribed"))
        await self._expect("RECEIPT")

    def events(self, raw) -> list[dict]:
        events = []
        for command, headers, body in framing.stomp_frames(raw):
            if command != "MESSAGE":
                raise RuntimeError(f"STOMP {command} while reading events: {headers} {body[:200]!r}")
            events.append(json.loads(body))
        return events


class SocketioClient(Client):
    """Socket.IO 5 on Engine.IO 4 over a WebSocket alone (no polling), as cheap as a client goes.

    It CONNECTs the default namespace with `{"user": N}` as auth, then one task
    per socket reads from the start: it answers every ping (`2` with `3`, or the
    server drops the socket after 45 s, idle ones too) and records each EVENT
    (`42["n", {...}]`).
    """

    async def start(self) -> None:
        opened = await self.ws.recv()
        if not opened.startswith("0"):
            raise RuntimeError(f"Engine.IO OPEN expected, got {opened[:200]!r}")
        await self.ws.send("40" + json.dumps({"user": self.spec["user"]}))
        while (answer := await self.ws.recv()) == "2":
            await self.ws.send("3")
        if not answer.startswith("40"):
            raise RuntimeError(f"Socket.IO CONNECT refused: {answer[:200]!r}")
        self.pump = asyncio.ensure_future(self._pump(int(self.options.get("expect", 0))))

    async def _pump(self, expect: int) -> None:
        try:
            while not expect or len(self.ids) < expect:
                raw = await self.ws.recv()
                if raw == "2":
                    await self.ws.send("3")
                elif raw.startswith("42"):
                    self.record(json.loads(raw[2:])[1], time.time())
        except ConnectionClosedOK:  # closed by us at the end (idle), or by the server: the counts say which
            return

    async def read(self, expect: int) -> None:
        await self.pump


CLIENTS = {
    "notify": JsonClient,
    "stomp": StompClient,
    "mqtt": MqttClient,
    "naive": NaiveClient,
    "bare": BareClient,
    "webstomp": WebStompClient,
    "socketio": SocketioClient,
}


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
    kind = CLIENTS[spec["protocol"]]
    clients = [kind(c, spec) for c in spec["clients"]]
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    started = time.time()
    await asyncio.gather(*(c.open(gate) for c in clients))
    connect_secs = time.time() - started
    print(f"READY {len(clients)}", flush=True)
    readers = asyncio.gather(*(c.read(spec["expect"]) for c in clients)) if spec["expect"] else None
    waiters = [asyncio.ensure_future(wait_for_stop_line())] + ([readers] if readers else [])
    await asyncio.wait(waiters, timeout=spec["timeout"], return_when=asyncio.FIRST_COMPLETED)
    failure = None
    if readers is not None and readers.done() and not readers.cancelled() and readers.exception() is not None:
        failure = repr(readers.exception())
    latencies = [x for c in clients for x in c.latencies]
    received = sum(len(c.ids) for c in clients)
    unique = sum(len(set(c.ids)) for c in clients)
    result = {
        "clients": len(clients),
        "connect_secs": round(connect_secs, 2),
        "received": received,
        "unique": unique,
        "duplicated": received - unique,
        "out_of_order": sum(c.out_of_order for c in clients),
        "expected": spec["expect"] * len(clients),
        "lost": max(0, spec["expect"] * len(clients) - unique) if spec["expect"] else 0,
        "latency_ms": {
            name: None if (v := percentile(latencies, share)) is None else round(v * 1000, 1)
            for name, share in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("max", 1.0))
        },
        "last_receipt": max((c.last_at for c in clients), default=0.0),
        "failure": failure,
    }
    json.dump(result, open(result_path, "w"))
    await asyncio.wait([asyncio.ensure_future(c.ws.close()) for c in clients], timeout=30)
    print("DONE", flush=True)
    sys.stdout.flush()


if __name__ == "__main__":
    # uvloop halves the generator's CPU per message; it shares the cores with the servers it measures.
    import uvloop

    uvloop.run(main(sys.argv[1], sys.argv[2]))
