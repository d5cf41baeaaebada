"""The MQTT adapter (PROTOCOL section 4.3) through channels' WebsocketCommunicator, and its ack bookkeeping."""

import json

import pytest
from channels.db import database_sync_to_async

from notifications.models import MqttSession
from notifications.protocol.cursors import Cursor
from notifications.realtime.adapters.mqtt_acks import SENT_UNKNOWN, AckTracker
from tests.protocol.test_mqtt_decoder import DISCONNECT, PINGREQ, connect, puback, subscribe
from tests.sockets import actions_broadcast, make_user, open_socket, publish, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


# --- the ack bookkeeping (pure) --------------------------------------------------------------


def test_acked_stops_before_the_oldest_unacknowledged_qos1_message():
    """Acks out of order: the stored position moves only past a prefix with nothing in flight."""
    acks = AckTracker(Cursor(0, 0), Cursor(0, 0), Cursor(0, 0))
    first, _ = acks.sent_at_qos1(Cursor(0, 1))
    second, _ = acks.sent_at_qos1(Cursor(0, 2))
    acks.passed(Cursor(1, 2))  # an announcement at QoS 0 behind them
    acks.acknowledged(second)
    assert acks.acked == Cursor(0, 0)
    acks.acknowledged(first)
    assert acks.acked == Cursor(1, 2)
    assert acks.take(final=False) == (Cursor(1, 2), SENT_UNKNOWN)
    assert acks.take(final=True) == (Cursor(1, 2), Cursor(1, 2))


def test_dup_marks_what_the_stored_session_had_sent_and_an_unknown_sent_means_up_to_the_head():
    """DUP for events up to the stored `sent`; after a lost instance (SENT_UNKNOWN), up to the head at CONNECT."""
    acks = AckTracker(Cursor(0, 1), Cursor(0, 3), head=Cursor(0, 9))
    assert [acks.sent_at_qos1(Cursor(0, n))[1] for n in (2, 3, 4)] == [True, True, False]
    lost = AckTracker(Cursor(0, 1), SENT_UNKNOWN, head=Cursor(0, 5))
    assert [lost.sent_at_qos1(Cursor(0, n))[1] for n in (5, 6)] == [True, False]


def test_packet_ids_skip_those_in_flight_and_wrap():
    """Packet ids run 1..65535, never 0, never one still in flight."""
    acks = AckTracker(Cursor(), Cursor(), Cursor())
    acks._next_id = 65535
    ids = [acks.sent_at_qos1(Cursor(0, n))[0] for n in range(1, 4)]
    assert ids == [65535, 1, 2]


# --- the adapter -----------------------------------------------------------------------------


def server_packets(data: bytes) -> list[tuple[int, int, bytes]]:
    """Split server bytes into (type, flags, body)."""
    out = []
    while data:
        length, shift, at = 0, 0, 1
        while True:
            digit = data[at]
            length |= (digit & 0x7F) << shift
            shift, at = shift + 7, at + 1
            if not digit & 0x80:
                break
        out.append((data[0] >> 4, data[0] & 0x0F, data[at : at + length]))
        data = data[at + length :]
    return out


def parse_publish(flags: int, body: bytes) -> dict:
    size = int.from_bytes(body[:2], "big")
    topic, rest = body[2 : 2 + size].decode(), body[2 + size :]
    qos = (flags >> 1) & 3
    packet_id = int.from_bytes(rest[:2], "big") if qos else None
    return {
        "topic": topic,
        "qos": qos,
        "dup": bool(flags & 8),
        "id": packet_id,
        "event": json.loads(rest[2 if qos else 0 :]),
    }


async def mqtt_socket(user=None, **kwargs):
    communicator, connected, _ = await open_socket(
        await session_cookie(user) if user else None, path="/mqtt", subprotocols=["mqtt"], **kwargs
    )
    assert connected
    return communicator


async def receive_packet(communicator, timeout: float = 5):
    message = await communicator.receive_output(timeout=timeout)
    assert message["type"] == "websocket.send", message
    ((kind, flags, body),) = server_packets(message["bytes"])
    return kind, flags, body


async def receive_publishes(communicator, count: int) -> list[dict]:
    found = []
    while len(found) < count:
        kind, flags, body = await receive_packet(communicator)
        assert kind == 3
        found.append(parse_publish(flags, body))
    return found


async def expect_close(communicator, timeout: float = 5) -> int:
    message = await communicator.receive_output(timeout=timeout)
    while message["type"] == "websocket.send":
        message = await communicator.receive_output(timeout=timeout)
    assert message["type"] == "websocket.close"
    return message.get("code")


async def test_a_signed_in_client_connects_subscribes_and_gets_its_events_as_qos1_publishes(hub):
    """CONNACK 0, SUBACK with the granted QoS (min(requested, 1)), then the event on its request's topic."""
    user = await make_user("ada")
    socket = await mqtt_socket(user)
    await socket.send_to(bytes_data=connect())
    assert await receive_packet(socket) == (2, 0, b"\x00\x00")
    await socket.send_to(bytes_data=subscribe(5, ("notify/me/events", 2)))
    assert await receive_packet(socket) == (9, 0, b"\x00\x05\x01")
    tracked, event = await publish(user)
    queued, processing = await receive_publishes(socket, 2)
    assert processing["topic"] == f"notify/me/requests/{tracked.id}" and processing["qos"] == 1
    assert processing["event"]["id"] == str(event.id) and processing["event"]["type"] == "event"
    await socket.send_to(bytes_data=PINGREQ)
    assert await receive_packet(socket) == (13, 0, b"")
    await socket.disconnect()


async def test_unacknowledged_messages_come_again_with_dup_after_a_clean_disconnect(hub):
    """Clean session 0: PUBACK the first, DISCONNECT; the reconnect has session present and the rest with DUP."""
    user = await make_user("ada")
    socket = await mqtt_socket(user)
    await socket.send_to(bytes_data=connect("phone", clean=False))
    assert await receive_packet(socket) == (2, 0, b"\x00\x00")
    await socket.send_to(bytes_data=subscribe(1, ("notify/me/requests/+", 1)))
    await receive_packet(socket)
    await publish(user)
    queued, processing = await receive_publishes(socket, 2)
    await socket.send_to(bytes_data=puback(queued["id"]) + DISCONNECT)
    assert await expect_close(socket) == 1000
    row = await database_sync_to_async(MqttSession.objects.get)(client_id="phone")
    assert (row.acked_own, row.sent_own, row.subscriptions) == (1, 2, [["notify/me/requests/+", 1]])
    again = await mqtt_socket(user)
    await again.send_to(bytes_data=connect("phone", clean=False))
    assert await receive_packet(again) == (2, 0, b"\x01\x00")
    (replayed,) = await receive_publishes(again, 1)
    assert replayed["event"]["id"] == processing["event"]["id"] and replayed["dup"]
    await again.disconnect()
    fresh = await mqtt_socket(user)
    await fresh.send_to(bytes_data=connect("phone", clean=True))
    assert await receive_packet(fresh) == (2, 0, b"\x00\x00")
    assert not await database_sync_to_async(MqttSession.objects.filter(client_id="phone").exists)()
    await fresh.disconnect()


async def test_events_no_subscription_matches_are_passed_not_replayed(hub):
    """Announcements-only session: request events move the stored position on and never come back."""
    user = await make_user("ada")
    socket = await mqtt_socket(user)
    await socket.send_to(bytes_data=connect("tablet", clean=False) + subscribe(1, ("notify/announcements", 1)))
    await receive_packet(socket)
    await receive_packet(socket)
    await publish(user)
    await actions_broadcast("After them")  # in stream order: once it arrives, both request events were passed
    (announcement,) = await receive_publishes(socket, 1)
    await socket.send_to(bytes_data=puback(announcement["id"]) + DISCONNECT)
    await expect_close(socket)
    await socket.disconnect()
    row = await database_sync_to_async(MqttSession.objects.get)(client_id="tablet")
    assert (row.acked_own, row.acked_announcements) == (2, 1)


async def test_an_unauthenticated_connect_gets_connack_5_then_close_4401(hub):
    """No session and no ticket (handshake or password): CONNACK return code 5, then close."""
    socket = await mqtt_socket(None)
    await socket.send_to(bytes_data=connect(username=b"x", password=b"bogus"))
    assert await receive_packet(socket) == (2, 0, b"\x00\x05")
    assert await expect_close(socket) == 4401


async def test_a_client_silent_for_one_and_a_half_keep_alives_is_disconnected(hub):
    """Keep-alive 1 s and nothing more from the client: closed (4408) after about 1.5 s."""
    socket = await mqtt_socket(await make_user("ada"))
    await socket.send_to(bytes_data=connect(keep_alive=1))
    await receive_packet(socket)
    assert await expect_close(socket, timeout=4) == 4408


@pytest.mark.parametrize(
    "after_connect, code",
    [
        (connect(), 1002),  # a second CONNECT
        (bytes((0x82, 0xFF, 0xFF, 0xFF, 0xFF, 0x01)), 1002),  # remaining length past four bytes
        (subscribe(1, (b"notify/\x00", 1)), 1002),  # NUL in a topic filter
        (bytes((0x82, 0xFF, 0xFF, 0x03)), 1009),  # announces a packet over the frame limit
        (bytes((0x32, 5, 0, 1)) + b"x\x00\x01", 1008),  # a PUBLISH from the client
    ],
    ids=["second-connect", "length-overflow", "nul-topic", "too-big", "publish"],
)
async def test_protocol_violations_close_cleanly_never_1011(hub, after_connect, code):
    """Each violation closes with its code (1002 protocol error, 1009 too big, 1008 policy), not 1011."""
    socket = await mqtt_socket(await make_user("ada"))
    await socket.send_to(bytes_data=connect())
    await receive_packet(socket)
    await socket.send_to(bytes_data=after_connect)
    assert await expect_close(socket) == code


async def test_a_wrong_protocol_level_gets_connack_1_and_a_text_message_closes_1003(hub):
    """MQTT 3.1 (level 3): CONNACK return code 1, then close; a text WebSocket message: 1003."""
    user = await make_user("ada")
    socket = await mqtt_socket(user)
    await socket.send_to(bytes_data=connect(level=3))
    assert await receive_packet(socket) == (2, 0, b"\x00\x01")
    assert await expect_close(socket) == 1002
    text = await mqtt_socket(user)
    await text.send_to(text_data="CONNECT")
    assert await expect_close(text) == 1003


async def test_a_handshake_offering_only_other_subprotocols_is_refused(hub):
    """`mqttv3.1` alone (MQTT 3.1) is not served: the handshake is refused."""
    communicator, connected, _ = await open_socket(
        await session_cookie(await make_user("ada")), path="/mqtt", subprotocols=["mqttv3.1"]
    )
    assert not connected


async def test_acks_are_written_in_batches_not_one_update_per_puback(hub, monkeypatch):
    """Twenty PUBACKs then DISCONNECT: at most a periodic flush and the two final writes, with everything acked."""
    from notifications.store import mqtt_sessions

    writes = []
    save = mqtt_sessions.save_positions
    monkeypatch.setattr(mqtt_sessions, "save_positions", lambda *args: writes.append(args) or save(*args))
    user = await make_user("ada")
    socket = await mqtt_socket(user)
    await socket.send_to(bytes_data=connect("batch", clean=False) + subscribe(1, ("notify/me/events", 1)))
    await receive_packet(socket)
    await receive_packet(socket)
    for n in range(10):
        await publish(user, title=f"job {n}")
    messages = await receive_publishes(socket, 20)
    before = len(writes)
    await socket.send_to(bytes_data=b"".join(puback(m["id"]) for m in messages) + DISCONNECT)
    await expect_close(socket)
    await socket.disconnect()
    assert len(writes) - before <= 3
    row = await database_sync_to_async(MqttSession.objects.get)(client_id="batch")
    assert (row.acked_own, row.sent_own) == (20, 20)
