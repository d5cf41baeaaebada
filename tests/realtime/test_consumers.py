"""The WebSocket contract (PROTOCOL section 1) through channels' WebsocketCommunicator."""

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.test import Client

from notifications.protocol.cursors import Cursor
from tests.sockets import (
    actions_broadcast,
    make_user,
    open_socket,
    publish,
    receive_until,
    session_cookie,
    session_expiring_in,
    signed_in_socket,
)

pytestmark = pytest.mark.django_db(transaction=True)


async def test_welcome_names_the_user_and_the_head_of_its_stream(hub):
    """A signed-in browser gets `welcome` with its user, a connection id, a cursor and the heartbeat."""
    user = await make_user("ada")
    communicator, welcome = await signed_in_socket(user)
    assert welcome["user"] == {"id": user.pk, "username": "ada"}
    assert len(welcome["connection_id"]) >= 16
    assert Cursor.decode(welcome["cursor"]) == Cursor(0, 0)
    assert welcome["heartbeat"] > 0 and welcome["server_time"]
    await communicator.disconnect()


async def test_an_event_published_for_the_user_arrives_live(hub):
    """A request-status event stored for the owner reaches the owner's open socket with a cursor."""
    user = await make_user("ada")
    communicator, welcome = await signed_in_socket(user, resume=None)
    await communicator.send_json_to({"type": "resume", "cursor": welcome["cursor"]})
    assert (await communicator.receive_json_from(timeout=5))["type"] == "replayed"
    tracked, event = await publish(user, title="Payroll")
    frames = [await communicator.receive_json_from(timeout=5) for _ in range(2)]
    assert [f["request"]["status"] for f in frames] == ["queued", "processing"]
    last = frames[-1]
    assert last["type"] == "event" and last["kind"] == "request.status" and last["id"] == str(event.id)
    assert last["request"]["id"] == str(tracked.id) and last["request"]["progress"] == 40
    assert last["message"] == "working" and last["created_at"]
    assert Cursor.decode(frames[0]["cursor"]) < Cursor.decode(frames[1]["cursor"])
    await communicator.disconnect()


async def test_another_user_receives_nothing_of_it(hub):
    """One user's request events never reach another user's socket."""
    ada, bob = await make_user("ada"), await make_user("bob")
    bob_socket, welcome = await signed_in_socket(bob)
    await bob_socket.send_json_to({"type": "resume", "cursor": welcome["cursor"]})
    await receive_until(bob_socket, "replayed")
    await publish(ada)
    await actions_broadcast("Maintenance tonight")
    frame = await bob_socket.receive_json_from(timeout=5)
    assert frame["kind"] == "announcement" and frame["title"] == "Maintenance tonight"
    assert await bob_socket.receive_nothing(timeout=0.3)
    await bob_socket.disconnect()


async def test_an_announcement_reaches_every_signed_in_user(hub):
    """A broadcast arrives on the sockets of all users, with title, body and level."""
    sockets = []
    for name in ("ada", "bob"):
        communicator, welcome = await signed_in_socket(await make_user(name))
        await communicator.send_json_to({"type": "resume", "cursor": welcome["cursor"]})
        await receive_until(communicator, "replayed")
        sockets.append(communicator)
    event = await actions_broadcast("Release 2.0", "New dashboard", "success")
    for communicator in sockets:
        frame = await communicator.receive_json_from(timeout=5)
        assert frame["id"] == str(event.id)
        assert (frame["kind"], frame["title"], frame["body"], frame["level"]) == (
            "announcement",
            "Release 2.0",
            "New dashboard",
            "success",
        )
        await communicator.disconnect()


async def test_resume_replays_what_was_missed_in_order_exactly_once(hub):
    """A client that reconnects with its last cursor gets exactly the events it missed, then `replayed`."""
    user = await make_user("ada")
    first, welcome = await signed_in_socket(user, resume=None)
    await first.send_json_to({"type": "resume", "cursor": welcome["cursor"]})
    await receive_until(first, "replayed")
    await publish(user, title="Before")
    seen = [await first.receive_json_from(timeout=5) for _ in range(2)]
    await first.disconnect()
    missed = [await publish(user, title=f"While away {i}") for i in range(3)]
    await actions_broadcast("While away too")

    second, _ = await signed_in_socket(user, resume=seen[-1]["cursor"])
    frames = await receive_until(second, "replayed")
    events, replayed = frames[:-1], frames[-1]
    expected_titles = [f"While away {i}" for i in range(3) for _ in range(2)] + [None]
    assert [f.get("request", {}).get("title") for f in events] == expected_titles
    assert events[-1]["title"] == "While away too"
    assert len({f["id"] for f in events}) == len(events) == 7
    assert replayed["count"] == 7 and replayed["cursor"] == events[-1]["cursor"]
    assert str(missed[-1][1].id) in {f["id"] for f in events}
    assert await second.receive_nothing(timeout=0.5)
    await second.disconnect()


async def test_resume_with_a_pruned_cursor_gets_reset(hub):
    """A cursor older than the kept history is answered with `reset`, reason `history_expired`."""
    from notifications.models import StreamHead

    user = await make_user("ada")
    await publish(user)
    await database_sync_to_async(StreamHead.objects.filter(user=user).update)(pruned_through_seq=1)
    communicator, _ = await signed_in_socket(user, resume=Cursor(0, 0).encode())
    frame = await communicator.receive_json_from(timeout=5)
    assert frame == {"type": "reset", "reason": "history_expired"}
    await communicator.disconnect()


async def test_ping_is_answered_with_pong_echoing_ts_and_ref(hub):
    """`ping` gets `pong` with the same `ts` and `ref`."""
    communicator, _ = await signed_in_socket(await make_user("ada"))
    await communicator.send_json_to({"type": "ping", "ts": {"sent": 12.5}, "ref": "p1"})
    assert await communicator.receive_json_from(timeout=5) == {"type": "pong", "ts": {"sent": 12.5}, "ref": "p1"}
    await communicator.disconnect()


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("{not json", "bad_request"),
        ("[1, 2]", "bad_request"),
        ('"a string"', "bad_request"),
        ('{"no": "type"}', "bad_request"),
        ('{"type": "subscribe", "ref": "r9"}', "unknown_type"),
        ('{"type": "resume", "cursor": "xyz", "ref": "r1"}', "bad_request"),
        ('{"type": "resume"}', "bad_request"),
        ('{"type": "ack", "id": 7}', "bad_request"),
        ('{"type": "ping", "ref": 5}', "bad_request"),
        ('{"type": "ping", "ref": "' + "x" * 65 + '"}', "bad_request"),
        ('{"type": "ping", "ts": "\\ud800"}', "bad_request"),
        ('{"type": "\\ud800"}', "bad_request"),
        ('{"type": "ping", "ts": NaN}', "bad_request"),
        ('{"type": "ping", "ts": ' + "[" * 1000 + "]" * 1000 + "}", "bad_request"),
        ('{"type": "resume", "cursor": "0x0000000000000000000000", "ref": "r2"}', "bad_request"),
        ('{"type": "resume", "cursor": "+00000000000000000000000"}', "bad_request"),
    ],
)
async def test_a_malformed_frame_gets_an_error_and_the_socket_stays_open(hub, text, code):
    """Bad JSON, a non-object, an unknown type or a bad field: an `error` frame, and the socket still answers."""
    communicator, _ = await signed_in_socket(await make_user("ada"))
    await communicator.send_to(text_data=text)
    error = await communicator.receive_json_from(timeout=5)
    assert error["type"] == "error" and error["code"] == code and error["message"]
    if '"ref": "r' in text:
        assert error["ref"] == json.loads(text)["ref"]
    await communicator.send_json_to({"type": "ping", "ts": 1})
    assert (await communicator.receive_json_from(timeout=5))["type"] == "pong"
    await communicator.disconnect()


async def test_a_binary_frame_gets_an_error(hub):
    """Frames are JSON text; a binary frame is refused with an error, the socket stays."""
    communicator, _ = await signed_in_socket(await make_user("ada"))
    await communicator.send_to(bytes_data=b"\x00\x01")
    assert (await communicator.receive_json_from(timeout=5))["code"] == "bad_request"
    await communicator.disconnect()


async def test_ack_marks_read_and_every_connection_of_the_user_hears_it(hub):
    """`ack` on one socket sends `read` with the unread count to all the user's sockets."""
    user = await make_user("ada")
    one, w1 = await signed_in_socket(user)
    two, w2 = await signed_in_socket(user)
    for communicator, welcome in ((one, w1), (two, w2)):
        await communicator.send_json_to({"type": "resume", "cursor": welcome["cursor"]})
        await receive_until(communicator, "replayed")
    _, event = await publish(user)
    for communicator in (one, two):
        await receive_until(communicator, "event")
        await receive_until(communicator, "event")
    await one.send_json_to({"type": "ack", "id": str(event.id)})
    for communicator in (one, two):
        frame = await receive_until(communicator, "read")
        assert frame[-1] == {"type": "read", "up_to": str(event.id), "unread": 0}
        await communicator.disconnect()


async def test_ack_of_an_unknown_event_is_not_found(hub):
    """`ack` of an id outside the user's stream answers `not_found` with the ref."""
    ada, bob = await make_user("ada"), await make_user("bob")
    _, event = await publish(bob)
    communicator, _ = await signed_in_socket(ada)
    await communicator.send_json_to({"type": "ack", "id": str(event.id), "ref": "a1"})
    error = await communicator.receive_json_from(timeout=5)
    assert (error["type"], error["code"], error["ref"]) == ("error", "not_found", "a1")
    await communicator.disconnect()


async def test_an_unauthenticated_socket_is_accepted_then_closed_with_4401(hub):
    """No session and no ticket: the handshake succeeds and the socket closes at once with 4401."""
    communicator, connected, _ = await open_socket(cookie=None)
    assert connected
    assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": 4401}


async def test_a_bad_ticket_closes_with_4401(hub):
    """An unknown ticket is refused like a missing session."""
    communicator, connected, _ = await open_socket(path="/ws/notifications/?ticket=made-up")
    assert connected
    assert (await communicator.receive_output(timeout=5))["code"] == 4401


async def test_a_ticket_opens_a_socket_once(hub):
    """A ticket authenticates one socket for its user; the second use is refused with 4401."""
    from notifications.store import tickets

    user = await make_user("ada")
    raw = await database_sync_to_async(tickets.issue_ticket)(user)
    communicator, connected, _ = await open_socket(path=f"/ws/notifications/?ticket={raw}")
    assert connected
    assert (await communicator.receive_json_from(timeout=5))["user"]["username"] == "ada"
    await communicator.disconnect()
    again, connected, _ = await open_socket(path=f"/ws/notifications/?ticket={raw}")
    assert (await again.receive_output(timeout=5))["code"] == 4401


@pytest.mark.parametrize("origin", [b"http://evil.example", b"http://testserver:8443", b"https://testserver", None])
async def test_a_missing_or_foreign_origin_is_refused_at_the_handshake(hub, origin):
    """The Origin must be the site's own; otherwise the handshake is refused before the consumer runs.

    The HTTP 403 a client sees is checked on real daphne (tests/integration/test_socket_robustness.py).
    """
    user = await make_user("ada")
    communicator, connected, _ = await open_socket(await session_cookie(user), origin=origin)
    assert not connected
    assert hub.connection_count() == 0


async def test_a_subprotocol_offer_is_answered_with_ours_or_refused(hub):
    """Offering notify.v1.json selects it; offering only unknown subprotocols refuses the handshake."""
    cookie = await session_cookie(await make_user("ada"))
    communicator, connected, subprotocol = await open_socket(cookie, subprotocols=["v12.stomp", "notify.v1.json"])
    assert connected and subprotocol == "notify.v1.json"
    await communicator.disconnect()
    _, connected, _ = await open_socket(cookie, subprotocols=["chat.v9"])
    assert not connected


async def test_a_frame_over_the_size_limit_closes_with_1009(hub, settings):
    """A frame larger than the limit makes the application close with 1009 (on real daphne: test_socket_robustness)."""
    settings.NOTIFY_MAX_FRAME_BYTES = 1024
    communicator, _ = await signed_in_socket(await make_user("ada"))
    await communicator.send_to(text_data=json.dumps({"type": "ping", "ts": "x" * 2000}))
    assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": 1009}


async def test_flooding_gets_rate_limited_errors_then_4429(hub, settings):
    """Past the frame rate a client gets `rate_limited` errors; if it keeps on, the socket closes with 4429."""
    settings.NOTIFY_FRAMES_PER_SECOND = 1
    settings.NOTIFY_FRAME_BURST = 3
    settings.NOTIFY_REFUSALS_BEFORE_CLOSE = 5
    communicator, _ = await signed_in_socket(await make_user("ada"))
    for _ in range(12):
        await communicator.send_json_to({"type": "ping", "ts": 0})
    outputs = []
    while True:
        output = await communicator.receive_output(timeout=5)
        outputs.append(output)
        if output["type"] == "websocket.close":
            break
    codes = [json.loads(o["text"]).get("code") for o in outputs[:-1]]
    assert codes.count("rate_limited") >= 1 and codes[:3] == [None, None, None]
    assert outputs[-1]["code"] == 4429


async def test_logout_closes_the_sessions_sockets_with_4000(hub):
    """Signing out ends that session's sockets with 4000."""
    user = await make_user("ada")
    client = Client()
    await database_sync_to_async(client.force_login)(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    communicator, _, _ = await open_socket(cookie)
    await communicator.receive_json_from(timeout=5)
    await database_sync_to_async(client.post)("/accounts/logout/")
    assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": 4000}


async def test_deactivating_the_user_closes_its_sockets_with_4000(hub):
    """A user deactivated in the database is disconnected with 4000 by the periodic session check, unprompted."""
    user = await make_user("ada")
    communicator, _ = await signed_in_socket(user)
    await database_sync_to_async(get_user_model().objects.filter(pk=user.pk).update)(is_active=False)
    assert await communicator.receive_output(timeout=10) == {"type": "websocket.close", "code": 4000}


async def test_an_expired_session_closes_the_socket_with_4000(hub):
    """When the session's expiry passes, the socket closes with 4000."""
    user = await make_user("ada")
    session_key = await database_sync_to_async(session_expiring_in)(user, seconds=2)
    communicator, _, _ = await open_socket(f"sessionid={session_key}")
    await communicator.receive_json_from(timeout=5)
    assert await communicator.receive_output(timeout=6) == {"type": "websocket.close", "code": 4000}


async def test_live_events_wait_for_a_prompt_resume_so_replay_comes_first(hub):
    """Events committed between `welcome` and `resume` follow the replayed history, each once."""
    user = await make_user("ada")
    await publish(user, title="Old")
    communicator, welcome = await signed_in_socket(user)
    await publish(user, title="New")
    await asyncio.sleep(0.1)
    await communicator.send_json_to({"type": "resume", "cursor": Cursor(0, 0).encode()})
    frames = await receive_until(communicator, "replayed")
    titles = [f["request"]["title"] for f in frames if f["type"] == "event"]
    assert titles == ["Old", "Old", "New", "New"]
    assert await communicator.receive_nothing(timeout=1.5)
    await communicator.disconnect()
