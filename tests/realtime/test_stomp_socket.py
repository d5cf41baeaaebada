"""The STOMP adapter (PROTOCOL section 4.1) through channels' WebsocketCommunicator: the fine-grained frame cases."""

import asyncio
import json

import pytest

from notifications.protocol.cursors import Cursor
from notifications.protocol.stomp.decoder import StompDecoder
from notifications.protocol.stomp.frames import SERVER_COMMANDS
from notifications.realtime.adapters import stomp_socket
from tests.sockets import make_user, open_socket, publish, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


def frame(command: str, headers: dict[str, str] | None = None, body: str = "") -> str:
    lines = [command, *(f"{name}:{value}" for name, value in (headers or {}).items())]
    return "\n".join(lines) + "\n\n" + body + "\x00"


class Client:
    """A communicator on /ws/stomp/ and the server frames it decoded (heart-beats counted apart)."""

    def __init__(self, communicator):
        self.communicator = communicator
        self.decoder = StompDecoder(2**20, commands=SERVER_COMMANDS)
        self.pending = []
        self.heart_beats = 0

    async def next(self, timeout: float = 5):
        while not self.pending:
            output = await self.communicator.receive_output(timeout)
            if output["type"] == "websocket.close":
                return output
            for item in self.decoder.feed(output.get("text") or output.get("bytes")):
                if item.is_heartbeat:
                    self.heart_beats += 1
                else:
                    self.pending.append(item)
        return self.pending.pop(0)

    async def error_then_close(self):
        error = await self.next()
        assert error.command == "ERROR", error
        closed = await self.next()
        assert closed["type"] == "websocket.close", closed
        return error, closed["code"]

    async def send(self, text: str) -> None:
        await self.communicator.send_to(text_data=text)


async def stomp_client(user=None, connect: dict[str, str] | None = None, **kwargs) -> Client:
    cookie = await session_cookie(user) if user is not None else None
    communicator, accepted, _ = await open_socket(cookie, path="/ws/stomp/", **kwargs)
    assert accepted
    client = Client(communicator)
    if connect is not None:
        await client.send(frame("CONNECT", connect))
    return client


async def connected(user, **headers) -> tuple[Client, object]:
    client = await stomp_client(user, {"accept-version": "1.2", **headers})
    answer = await client.next()
    assert answer.command == "CONNECTED", answer
    return client, answer


async def test_connected_states_the_servers_heart_beat_and_the_stream_head(hub):
    """CONNECTED: version, heart-beat 25000,25000, session, user-name, server and the head cursor."""
    user = await make_user("ada")
    await publish(user)
    client, answer = await connected(user, host="ignored", **{"heart-beat": "0,0"})
    assert answer.get("version") == "1.2" and answer.get("heart-beat") == "25000,25000"
    assert answer.get("user-name") == "ada" and answer.get("server") and len(answer.get("session")) >= 16
    assert Cursor.decode(answer.get("cursor")) == Cursor(0, 2)
    await client.communicator.disconnect()


async def test_a_stomp_1_0_client_gets_error_naming_the_versions(hub):
    """CONNECT without accept-version (STOMP 1.0): ERROR with `version:1.2,1.1`, then close."""
    client = await stomp_client(await make_user("ada"), {"host": "x"})
    error, code = await client.error_then_close()
    assert error.get("version") == "1.2,1.1" and code == 1002


async def test_frames_before_connect_and_a_second_connect_are_refused(hub):
    """SUBSCRIBE before CONNECT, and CONNECT twice: ERROR then close."""
    user = await make_user("ada")
    client = await stomp_client(user)
    await client.send(frame("SUBSCRIBE", {"id": "1", "destination": "/topic/announcements"}))
    error, _ = await client.error_then_close()
    assert "before CONNECT" in error.get("message")
    client, _ = await connected(user)
    await client.send(frame("CONNECT", {"accept-version": "1.2"}))
    error, _ = await client.error_then_close()
    assert "CONNECT again" in error.get("message")


async def test_the_server_sends_heart_beats_and_closes_a_silent_client(hub, monkeypatch):
    """The server sends EOLs every 20 ms as negotiated, and closes a client silent past 2 x 100 ms with 4408."""
    monkeypatch.setattr(stomp_socket, "SERVER_HEART_BEAT_MS", (20, 100))
    client, _ = await connected(await make_user("ada"), **{"heart-beat": "100,20"})
    error, code = await client.error_then_close()
    assert client.heart_beats >= 3
    assert (error.get("message"), code) == ("heart-beat missed", stomp_socket.CLOSE_HEART_BEAT_MISSED)


async def test_a_client_sending_heart_beats_stays(hub, monkeypatch):
    """A client that sends its EOL heart-beats in time is not closed."""
    monkeypatch.setattr(stomp_socket, "SERVER_HEART_BEAT_MS", (0, 50))
    client, _ = await connected(await make_user("ada"), **{"heart-beat": "50,0"})
    for _ in range(6):
        await client.send("\n")
        assert await client.communicator.receive_nothing(timeout=0.04)
    await client.send(frame("DISCONNECT", {"receipt": "bye"}))
    assert (await client.next()).get("receipt-id") == "bye"
    assert (await client.next())["code"] == 1000


async def test_subscription_headers_are_checked(hub):
    """A SUBSCRIBE without id, with an unknown ack mode, or reusing an id: ERROR then close."""
    user = await make_user("ada")
    for headers in (
        {"destination": "/topic/announcements"},
        {"id": "1", "destination": "/topic/announcements", "ack": "sometimes"},
        {"id": "1", "destination": "/user/queue/requests/not-a-uuid"},
        {"id": "1", "destination": "/topic/announcements", "cursor": "not-a-cursor"},
    ):
        client, _ = await connected(user)
        await client.send(frame("SUBSCRIBE", headers))
        await client.error_then_close()
    client, _ = await connected(user)
    await client.send(frame("SUBSCRIBE", {"id": "1", "destination": "/topic/announcements"}) * 2)
    error, _ = await client.error_then_close()
    assert "already in use" in error.get("message")


async def test_a_cursor_ahead_of_the_stream_gets_one_reset_message_then_live_events(hub):
    """A cursor the stream never reached: one MESSAGE `notify-reset` with body {}, then live events."""
    user = await make_user("ada")
    client, _ = await connected(user)
    ahead = Cursor(0, 99).encode()
    await client.send(frame("SUBSCRIBE", {"id": "s", "destination": "/user/queue/requests", "cursor": ahead}))
    reset = await client.next()
    assert reset.command == "MESSAGE" and reset.get("notify-reset") == "unknown_cursor" and reset.body == b"{}"
    tracked, event = await publish(user)
    bodies = [json.loads((await client.next()).body) for _ in range(2)]
    assert [body["request"]["status"] for body in bodies] == ["queued", "processing"]
    assert bodies[1]["id"] == str(event.id)
    await client.communicator.disconnect()


async def test_a_stomp_1_1_ack_names_the_message_id_and_an_unknown_event_is_refused(hub):
    """In 1.1 ACK carries `message-id`; an ACK of an event not in the stream gets ERROR then close."""
    user = await make_user("ada")
    client = await stomp_client(user, {"accept-version": "1.1"})
    assert (await client.next()).get("version") == "1.1"
    await client.send(frame("SUBSCRIBE", {"id": "s", "destination": "/user/queue/requests", "ack": "client"}))
    await publish(user)
    message = await client.next()
    await client.next()
    await client.send(frame("ACK", {"subscription": "s", "message-id": message.get("ack"), "receipt": "a"}))
    assert (await client.next()).get("receipt-id") == "a"
    await client.send(frame("ACK", {"subscription": "s", "message-id": "5f0e0c1e-0000-4000-8000-000000000000"}))
    error, _ = await client.error_then_close()
    assert error.command == "ERROR"


async def test_transactions_are_refused(hub):
    """BEGIN (no transactions here): ERROR then close 1008."""
    client, _ = await connected(await make_user("ada"))
    await client.send(frame("BEGIN", {"transaction": "t"}))
    _, code = await client.error_then_close()
    assert code == 1008


async def test_the_notifications_endpoint_speaks_stomp_when_a_stomp_subprotocol_is_offered(hub):
    """/ws/notifications/ offered v11.stomp selects it and answers CONNECT; offered v10.stomp alone it refuses."""
    cookie = await session_cookie(await make_user("ada"))
    communicator, accepted, subprotocol = await open_socket(cookie, subprotocols=["v10.stomp", "v11.stomp"])
    assert accepted and subprotocol == "v11.stomp"
    client = Client(communicator)
    await client.send(frame("CONNECT", {"accept-version": "1.2,1.1"}))
    assert (await client.next()).get("version") == "1.1"
    await communicator.disconnect()
    _, accepted, _ = await open_socket(cookie, subprotocols=["v10.stomp"])
    assert not accepted


async def test_subscriptions_with_their_own_cursors_get_each_event_once_in_order_while_live_events_flow(hub):
    """Two subscriptions replay from different cursors while events are published: each gets its selection once.

    Live events that arrive during a replay are held and sent after it, never
    twice; the RECEIPT comes after the replay.
    """
    user = await make_user("ada")
    for _ in range(5):
        await publish(user)  # 10 events: queued, processing
    client, answer = await connected(user)
    middle = Cursor(0, 4).encode()
    publishing = asyncio.ensure_future(publish_many(user, 5))
    await client.send(frame("SUBSCRIBE", {"id": "all", "destination": "/user/queue/notifications", "cursor": "0" * 24}))
    await client.send(
        frame("SUBSCRIBE", {"id": "req", "destination": "/user/queue/requests", "cursor": middle, "receipt": "r"})
    )
    await publishing
    seen: dict[str, list[str]] = {"all": [], "req": []}
    receipts = []
    while len(seen["all"]) < 20 or len(seen["req"]) < 16:
        item = await client.next()
        if item.command == "RECEIPT":
            receipts.append(len(seen["req"]))
            continue
        assert item.command == "MESSAGE", item
        seen[item.get("subscription")].append(item.get("cursor"))
    assert await client.communicator.receive_nothing(timeout=0.3)
    for cursors in seen.values():
        assert cursors == sorted(set(cursors)), cursors
    assert [Cursor.decode(c).own for c in seen["all"]] == list(range(1, 21))
    assert [Cursor.decode(c).own for c in seen["req"]] == list(range(5, 21))
    assert receipts and receipts[0] >= 6  # the replay of req (at least seqs 5..10) came before its RECEIPT
    await client.communicator.disconnect()


async def publish_many(user, count: int) -> None:
    for _ in range(count):
        await publish(user)
