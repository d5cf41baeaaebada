"""MQTT 3.1.1 over WebSocket (PROTOCOL section 4.3) with the stock clients, Paho and MQTT.js, on two instances."""

import asyncio
import json
import queue
import random
import subprocess
import uuid
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from websockets.exceptions import ConnectionClosed

from .harness import connect_ws, expect_close
from .test_fanout import create_request, report

CLIENTS = Path(__file__).parent / "clients"
WAIT_SECS = 15.0
PAHO_NOT_AUTHORIZED = 135  # paho 2 reports CONNACK return code 5 as the MQTT 5 reason code "Not authorized"


class Paho:
    """A Paho client over WebSocket whose callbacks land in queues the test waits on."""

    def __init__(self, instance, client_id: str = "", clean: bool = True, ticket: str | None = None, query=""):
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=clean,
            transport="websockets",
            protocol=paho.MQTTv311,
        )
        self.client.ws_set_options(path="/mqtt" + query, headers={"Origin": instance.origin})
        if ticket is not None:
            self.client.username_pw_set("ignored", ticket)
        self.instance = instance
        self.connacks: queue.Queue = queue.Queue()
        self.subacks: queue.Queue = queue.Queue()
        self.messages: queue.Queue = queue.Queue()
        self.disconnects: queue.Queue = queue.Queue()
        self.client.on_connect = lambda c, u, flags, rc, p: self.connacks.put((flags.session_present, rc.value))
        self.client.on_subscribe = lambda c, u, mid, codes, p: self.subacks.put([code.value for code in codes])
        self.client.on_message = lambda c, u, msg: self.messages.put(msg)
        self.client.on_disconnect = lambda c, u, flags, rc, p: self.disconnects.put(rc)

    def connect(self, keepalive: int = 30) -> tuple[bool, int]:
        """Connect and return (session present, CONNACK return code)."""
        self.client.connect("127.0.0.1", self.instance.port, keepalive=keepalive)
        self.client.loop_start()
        return self.connacks.get(timeout=WAIT_SECS)

    def subscribe(self, *filters: tuple[str, int]) -> list[int]:
        self.client.subscribe(list(filters))
        return self.subacks.get(timeout=WAIT_SECS)

    def receive(self, count: int) -> list:
        return [self.messages.get(timeout=WAIT_SECS) for _ in range(count)]

    def assert_no_message(self, seconds: float) -> None:
        with pytest.raises(queue.Empty):
            self.messages.get(timeout=seconds)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def ticket_of(service, username: str, instance=None) -> str:
    answer = service.session(username, instance).post_json("/api/v1/ws-tickets/")
    assert answer.status_code in (200, 201), answer.text
    return answer.json()["ticket"]


def payloads(messages) -> list[dict]:
    return [json.loads(message.payload) for message in messages]


def test_paho_receives_request_events_and_announcements_published_on_the_other_instance(service):
    """Paho on B, ticket in the CONNECT password: events posted on A come on their concrete topics, as section 1."""
    client = Paho(service.b, ticket=ticket_of(service, "ada"))
    assert client.connect() == (False, 0)
    assert client.subscribe(("notify/me/requests/+", 1), ("notify/announcements", 0)) == [1, 0]
    with service.publisher(service.a) as publisher:
        request_id = create_request(publisher, "ada", "Quarterly report")
        stored = report(publisher, request_id, "processing", 40, message="Crunching")
        assert publisher.post_json("/api/v1/broadcasts/", {"title": "Maintenance"}).status_code == 202
    queued, processing, announcement = client.receive(3)
    assert [m.topic for m in (queued, processing)] == [f"notify/me/requests/{request_id}"] * 2
    assert (queued.qos, announcement.qos, announcement.topic) == (1, 0, "notify/announcements")
    event = json.loads(processing.payload)
    assert event["type"] == "event" and event["id"] == stored["id"] and event["kind"] == "request.status"
    assert event["request"]["status"] == "processing" and event["message"] == "Crunching" and "cursor" in event
    assert json.loads(announcement.payload)["title"] == "Maintenance"
    client.stop()


def test_overlapping_subscriptions_publish_an_event_once_at_the_highest_qos(service):
    """`notify/me/#` at QoS 0 and one request at QoS 1: that request's event comes once, at QoS 1."""
    client = Paho(service.a, query="?ticket=" + ticket_of(service, "ada"))
    assert client.connect() == (False, 0)
    with service.publisher(service.b) as publisher:
        request_id = create_request(publisher, "ada", "Overlap")
        assert client.subscribe(("notify/me/#", 0), (f"notify/me/requests/{request_id}", 2)) == [0, 1]
        report(publisher, request_id, "succeeded")
    (message,) = client.receive(1)
    assert message.qos == 1 and json.loads(message.payload)["request"]["status"] == "succeeded"
    client.assert_no_message(1.0)
    client.stop()


def test_another_users_request_and_unknown_filters_get_0x80_and_bob_sees_nothing_of_ada(service):
    """SUBACK 0x80 per refused filter (another user's request, unknown filters); the granted ones still work."""
    with service.publisher(service.a) as publisher:
        adas = create_request(publisher, "ada", "Private")
        bob = Paho(service.a, ticket=ticket_of(service, "bob"))
        bob.connect()
        codes = bob.subscribe(
            (f"notify/me/requests/{adas}", 1), ("notify/#", 1), ("notify/me/requests/x", 0), ("notify/me/events", 1)
        )
        assert codes == [0x80, 0x80, 0x80, 1]
        report(publisher, adas, "succeeded")
        assert publisher.post_json("/api/v1/broadcasts/", {"title": "For all"}).status_code == 202
    (message,) = bob.receive(1)
    assert json.loads(message.payload)["kind"] == "announcement"
    bob.assert_no_message(1.0)
    bob.stop()


def test_a_bad_ticket_gets_connack_5(service):
    """A ticket that was never issued in the password: CONNACK return code 5 (not authorized), then close."""
    client = Paho(service.a, ticket="not-a-ticket")
    assert client.connect() == (False, PAHO_NOT_AUTHORIZED)
    client.client.loop_stop()


def test_a_persistent_session_replays_what_was_missed_after_a_clean_disconnect(service):
    """Clean session 0: events published while away come on reconnect (other instance), in order, session present."""
    client_id = "ada-phone-" + uuid.uuid4().hex[:6]
    first = Paho(service.a, client_id=client_id, clean=False, ticket=ticket_of(service, "ada"))
    assert first.connect() == (False, 0)
    assert first.subscribe(("notify/me/events", 1)) == [1]
    with service.publisher(service.a) as publisher:
        request_id = create_request(publisher, "ada", "Migration")
        first.receive(1)
        first.stop()
        missed = [report(publisher, request_id, "processing", p)["id"] for p in (10, 30, 50)]
    again = Paho(service.b, client_id=client_id, clean=False, ticket=ticket_of(service, "ada"))
    assert again.connect() == (True, 0)
    assert [event["id"] for event in payloads(again.receive(3))] == missed
    again.assert_no_message(1.0)
    again.stop()
    fresh = Paho(service.b, client_id=client_id, clean=True, ticket=ticket_of(service, "ada"))
    assert fresh.connect() == (False, 0)
    fresh.stop()


def test_after_sigkill_a_persistent_session_resumes_on_the_other_instance_with_nothing_lost(service):
    """SIGKILL the instance: on the other one every event comes, in order, once or again with DUP; none lost."""
    client_id = "ada-kill-" + uuid.uuid4().hex[:6]
    first = Paho(service.a, client_id=client_id, clean=False, ticket=ticket_of(service, "ada"))
    first.connect()
    first.subscribe(("notify/me/requests/+", 1))
    with service.publisher(service.b) as publisher:
        request_id = create_request(publisher, "ada", "Long job")
        published = [report(publisher, request_id, "processing", p)["id"] for p in range(1, 6)]
        seen = payloads(first.receive(6))
        service.a.kill()
        first.client.loop_stop()
        published += [report(publisher, request_id, "processing", p)["id"] for p in range(6, 11)]
        published.append(report(publisher, request_id, "succeeded")["id"])
    again = Paho(service.b, client_id=client_id, clean=False, ticket=ticket_of(service, "ada", service.b))
    assert again.connect() == (True, 0)
    messages = []
    while not messages or json.loads(messages[-1].payload)["id"] != published[-1]:
        messages.append(again.messages.get(timeout=WAIT_SECS))
    again.stop()
    replayed = [event["id"] for event in payloads(messages)]
    everything = [seen[0]["id"], *published]
    assert [event["id"] for event in seen] == everything[:6]
    resumed_at = everything.index(replayed[0])
    assert resumed_at <= 6, "nothing after what the killed instance had sent is skipped"
    assert replayed == everything[resumed_at:], "in order, each once on the new connection"
    assert all(message.dup for message in messages), "a dead instance's sends are unknown: DUP up to the head"


async def test_mqtt_js_subscribes_and_receives_over_the_other_instance(service):
    """MQTT.js 5 (protocolVersion 4) on B: SUBACK, then an event posted on A on its concrete topic."""
    script = CLIENTS / "mqtt_subscribe.mjs"
    with service.publisher(service.a) as publisher:
        request_id = create_request(publisher, "ada", "From node")
        node = subprocess.Popen(
            ["node", str(script), service.b.ws_url + "/mqtt", service.b.origin, ticket_of(service, "ada"), "1"],
            stdout=subprocess.PIPE,
            text=True,
        )
        lines = iter(node.stdout)
        assert json.loads(next(lines)) == {"connack": {"sessionPresent": False, "returnCode": 0}}
        assert json.loads(next(lines)) == {"suback": [1]}
        stored = report(publisher, request_id, "succeeded")
        message = json.loads(next(lines))
    assert node.wait(timeout=WAIT_SECS) == 0
    assert message["topic"] == f"notify/me/requests/{request_id}" and message["qos"] == 1
    assert message["payload"]["id"] == stored["id"]


async def test_mqtt_js_with_a_bad_ticket_gets_connack_5(service):
    """MQTT.js with a ticket never issued: the connection is refused with return code 5."""
    result = subprocess.run(
        ["node", str(CLIENTS / "mqtt_subscribe.mjs"), service.a.ws_url + "/mqtt", service.a.origin, "bogus", "0"],
        capture_output=True,
        text=True,
        timeout=WAIT_SECS,
    )
    assert json.loads(result.stdout.splitlines()[0])["error"]["code"] == 5


async def test_a_packet_before_connect_and_a_publish_close_cleanly_never_1011(service):
    """Raw sockets: PINGREQ before CONNECT closes 1002; a client PUBLISH after CONNECT closes 1008."""
    ticket = ticket_of(service, "ada")
    async with connect_ws(service.a, "/mqtt", subprotocols=["mqtt"], origin=None, query={"ticket": ticket}) as ws:
        await ws.send(bytes([0xC0, 0]))
        assert await expect_close(ws) == 1002
    ticket = ticket_of(service, "ada")
    async with connect_ws(service.a, "/mqtt", subprotocols=["mqtt"], origin=None, query={"ticket": ticket}) as ws:
        await ws.send(bytes([0x10, 12, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 0, 0, 0]))
        assert await ws.recv() == bytes([0x20, 2, 0, 0])
        await ws.send(bytes([0x30, 5, 0, 1]) + b"tx!")
        assert await expect_close(ws) == 1008


FUZZ_SOCKETS = 40
FUZZ_BATCH = 10
CLEAN_CLOSE_CODES = {1000, 1002, 1003, 1008, 1009, 4401, 4408}
HOSTILE_PIECES = [
    bytes((0x82, 0xFF, 0xFF, 0xFF, 0xFF, 0x01)),
    bytes((0x10, 12, 0, 4)) + b"MQTT" + bytes((3, 2, 0, 0, 0, 0)),
    bytes((0x82, 6, 0, 1, 0, 1)) + b"\x00" + b"\x01",
    bytes((0x82, 7, 0, 1, 0, 2)) + b"\xed\xa0" + b"\x01",
    bytes((0xC0, 0)),
    bytes((0x32, 5, 0, 1)) + b"x\x00\x01",
    bytes((0x20, 2, 0, 0)),
    bytes((0xF0, 0)),
    bytes((0x82, 0xFF, 0xFF, 0x7F)),
]
VALID_CONNECT = bytes((0x10, 12, 0, 4)) + b"MQTT" + bytes((4, 2, 0, 0, 0, 0))


async def _hostile_socket(service, cookie: str, rng) -> int | None:
    """Send random hostile bytes over one socket; return its close code (None: still open, closed by us)."""
    headers = {"Cookie": cookie}
    async with connect_ws(service.a, "/mqtt", subprotocols=["mqtt"], headers=headers) as ws:
        chunks = [VALID_CONNECT] if rng.random() < 0.5 else []
        for _ in range(rng.randint(1, 4)):
            piece = rng.choice(HOSTILE_PIECES) if rng.random() < 0.6 else rng.randbytes(rng.randint(1, 40))
            chunks.append(piece)
        for chunk in chunks:
            try:
                await ws.send(chunk)
            except ConnectionClosed:
                break
        try:
            return await expect_close(ws, timeout=2.0)
        except AssertionError:
            return None


async def test_hostile_bytes_on_real_sockets_close_cleanly_and_stall_no_other_socket(service):
    """40 sockets of random hostile bytes: each closes with MQTT's clean codes or stays usable, never 1011;
    meanwhile a Paho subscriber on the same instance keeps getting its events."""
    rng = random.Random(4043)
    watcher = Paho(service.a, ticket=ticket_of(service, "ada"))
    watcher.connect()
    watcher.subscribe(("notify/me/events", 1))
    cookie = service.session("bob").cookie_header()
    codes = []
    for _ in range(FUZZ_SOCKETS // FUZZ_BATCH):
        codes += await asyncio.gather(*(_hostile_socket(service, cookie, rng) for _ in range(FUZZ_BATCH)))
    closed = [code for code in codes if code is not None]
    assert closed and set(closed) <= CLEAN_CLOSE_CODES, codes
    with service.publisher(service.b) as publisher:
        create_request(publisher, "ada", "Still served")
    (message,) = watcher.receive(1)
    assert json.loads(message.payload)["request"]["title"] == "Still served"
    watcher.stop()
    assert "socket failed" not in service.a.log_tail(2000)
