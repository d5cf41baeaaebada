"""The event stream of `/api/v1/stream/` (PROTOCOL section 4.4) through the whole ASGI application."""

import json
from urllib.parse import quote

import pytest
from asgiref.testing import ApplicationCommunicator
from channels.db import database_sync_to_async
from django.test import Client

from notifications.protocol import sse
from notifications.store import tickets
from project.asgi import application
from tests.sockets import actions_broadcast, make_user, publish, session_cookie, session_expiring_in

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 5


class Stream:
    """An HTTP request to the stream, and the SSE messages of its response, parsed as EventSource does."""

    def __init__(self, communicator: ApplicationCommunicator):
        self.communicator = communicator
        self.buffer = ""
        self.status = self.headers = None

    async def start(self) -> "Stream":
        await self.communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
        start = await self.communicator.receive_output(TIMEOUT)
        self.status, self.headers = start["status"], dict(start["headers"])
        return self

    async def body(self) -> dict:
        message = await self.communicator.receive_output(TIMEOUT)
        return json.loads(message["body"])

    async def next_block(self) -> str:
        while "\n\n" not in self.buffer:
            message = await self.communicator.receive_output(TIMEOUT)
            assert message["type"] == "http.response.body"
            if not message.get("more_body"):
                raise EOFError(self.buffer + message["body"].decode())
            self.buffer += message["body"].decode()
        block, self.buffer = self.buffer.split("\n\n", 1)
        return block

    async def next_message(self) -> dict:
        """Return the next dispatched message {event, id, data} (comments skipped)."""
        while True:
            fields = {"data": []}
            for line in (await self.next_block()).split("\n"):
                name, _, value = line.partition(": ")
                if name == "data":
                    fields["data"].append(value)
                elif name:
                    fields[name] = value
            if fields["data"]:
                return {**fields, "data": json.loads("\n".join(fields["data"]))}

    async def ended(self) -> bool:
        message = await self.communicator.receive_output(TIMEOUT)
        return message["type"] == "http.response.body" and not message.get("more_body")


async def open_stream(cookie: str | None = None, query: str = "", origin: bytes | None = None, headers=()) -> Stream:
    scope_headers = [(b"host", b"testserver"), *headers]
    if cookie:
        scope_headers.append((b"cookie", cookie.encode()))
    if origin:
        scope_headers.append((b"origin", origin))
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/api/v1/stream/",
        "query_string": query.encode(),
        "headers": scope_headers,
        "scheme": "http",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000),
    }
    return await Stream(ApplicationCommunicator(application, scope)).start()


async def test_the_stream_starts_with_the_welcome_and_the_headers_of_an_unbuffered_event_stream(hub):
    """200 `text/event-stream`, no-cache, X-Accel-Buffering off; `event: welcome` carries the section-1 welcome."""
    user = await make_user("ada")
    stream = await open_stream(await session_cookie(user))
    assert stream.status == 200
    assert stream.headers[b"content-type"].startswith(b"text/event-stream")
    assert stream.headers[b"cache-control"] == b"no-cache"
    assert stream.headers[b"x-accel-buffering"] == b"no"
    welcome = await stream.next_message()
    assert welcome["event"] == "welcome"
    assert welcome["data"]["type"] == "welcome" and welcome["data"]["user"] == {"id": user.pk, "username": "ada"}
    assert hub.connection_count() == 1
    await stream.communicator.send_input({"type": "http.disconnect"})
    await stream.communicator.wait(TIMEOUT)
    assert hub.connection_count() == 0


async def test_events_after_the_last_event_id_come_in_order_then_live_ones(hub):
    """`Last-Event-ID` resumes: the stored events after it with `id: <cursor>` and `event: <kind>`, then live."""
    user = await make_user("ada")
    first = await open_stream(await session_cookie(user))
    cursor = (await first.next_message())["data"]["cursor"]
    await first.communicator.send_input({"type": "http.disconnect"})
    await publish(user, message="one")
    await actions_broadcast("Maintenance")
    stream = await open_stream(await session_cookie(user), headers=[(b"last-event-id", cursor.encode())])
    await stream.next_message()
    replayed = [await stream.next_message(), await stream.next_message(), await stream.next_message()]
    assert [m["event"] for m in replayed] == ["request.status", "request.status", "announcement"]
    assert [m["id"] for m in replayed] == [m["data"]["cursor"] for m in replayed]
    assert all(m["data"]["type"] == "event" for m in replayed)
    await publish(user, message="live")
    live = await stream.next_message()
    assert live["data"]["message"] == "" and live["id"] > replayed[-1]["id"]
    await stream.communicator.send_input({"type": "http.disconnect"})


async def test_without_a_cursor_the_stream_is_live_from_the_welcome(hub):
    """No Last-Event-ID and no `?cursor=`: nothing stored before is replayed; a new event arrives live."""
    user = await make_user("ada")
    await publish(user, message="before")
    stream = await open_stream(await session_cookie(user))
    await stream.next_message()
    await actions_broadcast("After")
    event = await stream.next_message()
    assert event["event"] == "announcement" and event["data"]["title"] == "After"
    await stream.communicator.send_input({"type": "http.disconnect"})


async def test_a_cursor_past_the_history_gets_reset_then_live_events(hub):
    """A cursor ahead of anything stored (not in the history) gets `event: reset` with a reason."""
    user = await make_user("ada")
    stream = await open_stream(await session_cookie(user), query="cursor=" + "f" * 24)
    await stream.next_message()
    reset = await stream.next_message()
    assert reset["event"] == "reset" and set(reset["data"]) == {"reason"}
    await actions_broadcast("After the reset")
    assert (await stream.next_message())["data"]["title"] == "After the reset"
    await stream.communicator.send_input({"type": "http.disconnect"})


@pytest.mark.parametrize("cursor", ["nope", "0x" + "0" * 22, "\udcff" * 3])
async def test_a_bad_cursor_is_answered_400_before_any_stream(hub, cursor):
    """A cursor this server did not issue: 400 with a JSON detail; no session starts."""
    user = await make_user("ada")
    raw = cursor.encode("utf-8", "surrogateescape")
    stream = await open_stream(await session_cookie(user), query="cursor=" + quote(raw))
    stream_header = await open_stream(await session_cookie(user), headers=[(b"last-event-id", raw)])
    for answer in (stream, stream_header):
        assert answer.status == 400
        assert "cursor" in (await answer.body())["detail"]
    assert hub.connection_count() == 0


async def test_unauthenticated_requests_get_401_with_a_json_body(hub):
    """No session, or a used ticket: 401 `{"detail": ...}` before the stream starts."""
    user = await make_user("ada")
    raw = await database_sync_to_async(tickets.issue_ticket)(user)
    with_ticket = await open_stream(query=f"ticket={raw}")
    assert with_ticket.status == 200
    assert (await with_ticket.next_message())["data"]["user"]["username"] == "ada"
    await with_ticket.communicator.send_input({"type": "http.disconnect"})
    for stream in (await open_stream(), await open_stream(query=f"ticket={raw}")):
        assert stream.status == 401
        assert stream.headers[b"content-type"] == b"application/json"
        assert "detail" in await stream.body()


async def test_a_foreign_origin_gets_403_and_the_own_origin_passes(hub):
    """A present Origin is checked as at the WebSocket handshake."""
    cookie = await session_cookie(await make_user("ada"))
    foreign = await open_stream(cookie, origin=b"https://evil.example")
    assert foreign.status == 403 and "detail" in await foreign.body()
    own = await open_stream(cookie, origin=b"http://testserver")
    assert own.status == 200
    await own.communicator.send_input({"type": "http.disconnect"})


async def test_logout_sends_session_ended_and_ends_the_response_and_the_reconnect_gets_401(hub):
    """Signing out: `event: session-ended`, the response ends, the hub lets go; the reconnect gets 401."""
    user = await make_user("ada")
    client = Client()
    await database_sync_to_async(client.force_login)(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    stream = await open_stream(cookie)
    await stream.next_message()
    await database_sync_to_async(client.post)("/accounts/logout/")
    ended = await stream.next_message()
    assert ended["event"] == "session-ended"
    assert await stream.ended()
    await stream.communicator.wait(TIMEOUT)
    assert hub.connection_count() == 0
    assert (await open_stream(cookie)).status == 401


async def test_a_comment_is_sent_every_heartbeat(hub, monkeypatch):
    """With a one-second heartbeat, a comment line arrives without any event."""
    monkeypatch.setenv("NOTIFY_HEARTBEAT_SECS", "1")
    stream = await open_stream(await session_cookie(await make_user("ada")))
    await stream.next_block()
    assert (await stream.next_block()).startswith(":")
    await stream.communicator.send_input({"type": "http.disconnect"})


async def test_a_post_is_refused_with_405(hub):
    """Only GET opens the stream."""
    communicator = ApplicationCommunicator(
        application,
        {"type": "http", "method": "POST", "path": "/api/v1/stream/", "query_string": b"", "headers": []},
    )
    stream = await Stream(communicator).start()
    assert stream.status == 405


def test_a_line_break_in_data_starts_another_data_line_and_ids_refuse_them():
    """Data lines split on CR, LF and CRLF; an id or event name with a line break is refused."""
    assert sse.message("a\nb\r\nc\rd", event="x", id="1") == "id: 1\nevent: x\ndata: a\ndata: b\ndata: c\ndata: d\n\n"
    assert sse.comment("hi") == ": hi\n\n"
    with pytest.raises(sse.InvalidField):
        sse.message("{}", id="1\n2")


async def test_an_expired_session_sends_session_ended(hub):
    """When the session behind the stream expires, `event: session-ended` and the response ends."""
    user = await make_user("ada")
    session_key = await database_sync_to_async(session_expiring_in)(user, seconds=1)
    stream = await open_stream(f"sessionid={session_key}")
    await stream.next_message()
    assert (await stream.next_message())["event"] == "session-ended"
    assert await stream.ended()
