"""SockJS sessions in one process (the in-process layer): open, heartbeats, one receiver, timeouts, websocket."""

import asyncio
import json
import secrets

import pytest
from channels.testing import HttpCommunicator, WebsocketCommunicator

from notifications.realtime.sockjs import sessions as sessions_module
from project.asgi import application
from tests.sockets import ORIGIN, make_user, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fast_sockjs(settings, monkeypatch):
    settings.NOTIFY_HEARTBEAT_SECS = 0.4
    monkeypatch.setattr(sessions_module, "DISCONNECT_DELAY_SECS", 0.5)
    sessions_module._registry = None
    yield
    sessions_module._registry = None


def session_path() -> str:
    return f"/sockjs/notifications/000/{secrets.token_hex(6)}"


async def request(path: str, cookie: str, method: str = "POST", body: bytes = b"", origin: bytes | None = None):
    headers = [(b"host", b"testserver"), (b"cookie", cookie.encode())]
    if origin is not None:
        headers.append((b"origin", origin))
    communicator = HttpCommunicator(application, method, path, body=body, headers=headers)
    response = await communicator.get_response(timeout=5)
    return response["status"], response["body"].decode()


async def poll_messages(path: str, cookie: str) -> list[dict]:
    status, body = await request(path + "/xhr", cookie)
    assert status == 200 and body.startswith("a["), body
    return [json.loads(message) for message in json.loads(body[1:])]


async def test_a_waiting_poll_gets_a_heartbeat_and_a_second_receiver_gets_2010(hub):
    """A poll with nothing to send answers `h` after the heartbeat period; a concurrent one gets c[2010]."""
    cookie = await session_cookie(await make_user("ada"))
    path = session_path()
    assert await request(path + "/xhr", cookie) == (200, "o\n")
    assert (await poll_messages(path, cookie))[0]["type"] == "welcome"
    waiting = asyncio.ensure_future(request(path + "/xhr", cookie))
    await asyncio.sleep(0.1)
    assert await request(path + "/xhr", cookie) == (200, 'c[2010,"Another connection still open"]\n')
    assert await waiting == (200, "h\n")


async def test_a_session_without_a_receiver_for_the_delay_is_closed_and_then_unknown(hub):
    """No receiving request for the disconnect delay ends the session: its id is unknown (404) to xhr_send."""
    cookie = await session_cookie(await make_user("ada"))
    path = session_path()
    assert await request(path + "/xhr", cookie) == (200, "o\n")
    assert await request(path + "/xhr_send", cookie, body=b'["{\\"type\\":\\"ping\\",\\"ts\\":1}"]') == (204, "")
    assert any(frame["type"] == "pong" for frame in await poll_messages(path, cookie))
    registry = sessions_module.registry()
    session = registry.get("notifications", path.rsplit("/", 1)[1])
    assert session is not None and session.core.is_open
    for _ in range(40):
        if registry.get("notifications", path.rsplit("/", 1)[1]) is None:
            break
        await asyncio.sleep(0.05)
    assert registry.get("notifications", path.rsplit("/", 1)[1]) is None
    assert not session.core.is_open
    assert (await request(path + "/xhr_send", cookie, body=b'["{}"]'))[0] == 404


async def test_an_oversized_message_closes_the_session_with_1009(hub, settings):
    """A message over the frame limit closes the session as the socket would: c[1009,"frame too big"]."""
    settings.NOTIFY_MAX_FRAME_BYTES = 1024
    cookie = await session_cookie(await make_user("ada"))
    path = session_path()
    await request(path + "/xhr", cookie)
    await poll_messages(path, cookie)
    big = json.dumps([json.dumps({"type": "ping", "ts": "x" * 2000})]).encode()
    assert await request(path + "/xhr_send", cookie, body=big) == (204, "")
    assert await request(path + "/xhr", cookie) == (200, 'c[1009,"frame too big"]\n')


async def test_the_websocket_transport_frames_messages_the_sockjs_way(hub):
    """`o`, then `a["<welcome>"]`; a JSON array of frames is answered frame by frame; a bad payload closes."""
    cookie = await session_cookie(await make_user("ada"))
    headers = [(b"host", b"testserver"), (b"origin", ORIGIN), (b"cookie", cookie.encode())]
    communicator = WebsocketCommunicator(application, session_path() + "/websocket", headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    assert await communicator.receive_from(timeout=5) == "o"
    welcome = await communicator.receive_from(timeout=5)
    assert welcome.startswith("a[") and json.loads(json.loads(welcome[1:])[0])["type"] == "welcome"
    await communicator.send_to(text_data=json.dumps([json.dumps({"type": "ping", "ts": n}) for n in (1, 2)]))
    pongs = [json.loads(json.loads((await communicator.receive_from(timeout=5))[1:])[0]) for _ in range(2)]
    assert pongs == [{"type": "pong", "ts": 1}, {"type": "pong", "ts": 2}]
    assert await communicator.receive_from(timeout=2) == "h"
    await communicator.send_to(text_data="[1,")
    assert await communicator.receive_from(timeout=5) == 'c[1002,"Broken framing."]'
    assert (await communicator.receive_output(timeout=5))["type"] == "websocket.close"


async def test_a_foreign_origin_is_refused_on_every_http_request(hub):
    """Any SockJS HTTP request whose Origin header is foreign gets 403; the site's own origin passes."""
    cookie = await session_cookie(await make_user("ada"))
    path = session_path()
    assert (await request(path + "/xhr", cookie, origin=b"http://evil.example"))[0] == 403
    assert (await request("/sockjs/notifications/info", cookie, method="GET", origin=b"http://evil.example"))[0] == 403
    assert await request(path + "/xhr", cookie, origin=ORIGIN) == (200, "o\n")


async def test_bad_input_inside_a_message_gets_the_protocols_error_frame(hub):
    """A message with a lone surrogate, a NUL or a non-finite number is refused with a `bad_request` error frame."""
    cookie = await session_cookie(await make_user("ada"))
    path = session_path()
    await request(path + "/xhr", cookie)
    await poll_messages(path, cookie)
    bodies = [
        b'["\\ud800"]',
        b'["{\\"type\\":\\"ping\\",\\"ts\\":\\"\\\\ud800\\"}"]',
        b'["{\\"type\\":\\"ping\\",\\"ts\\":\\"\\\\u0000\\"}"]',
        b'["{\\"type\\":\\"ping\\",\\"ts\\":NaN}"]',
    ]
    for body in bodies:
        assert await request(path + "/xhr_send", cookie, body=body) == (204, "")
        (error,) = await poll_messages(path, cookie)
        assert error["type"] == "error" and error["code"] == "bad_request", (body, error)


async def test_an_unexpected_error_in_one_session_closes_it_with_1011_and_others_go_on(hub, monkeypatch):
    """A failing handler ends its session with c[1011,"internal error"]; another session still answers."""
    from notifications.realtime.adapters.json_socket import JsonSocketConsumer

    cookie = await session_cookie(await make_user("ada"))
    failing, healthy = session_path(), session_path()
    for path in (failing, healthy):
        await request(path + "/xhr", cookie)
        await poll_messages(path, cookie)
    real_on_ping = JsonSocketConsumer.on_ping

    async def on_ping(self, frame):
        if frame.fields["ts"] == "boom":
            raise RuntimeError("handler bug")
        await real_on_ping(self, frame)

    monkeypatch.setattr(JsonSocketConsumer, "on_ping", on_ping)
    assert await request(failing + "/xhr_send", cookie, body=b'["{\\"type\\":\\"ping\\",\\"ts\\":\\"boom\\"}"]')
    assert await request(failing + "/xhr", cookie) == (200, 'c[1011,"internal error"]\n')
    assert await request(healthy + "/xhr_send", cookie, body=b'["{\\"type\\":\\"ping\\",\\"ts\\":2}"]') == (204, "")
    assert await poll_messages(healthy, cookie) == [{"type": "pong", "ts": 2}]


async def test_a_stomp_refusal_over_sockjs_sends_its_error_then_closes_with_its_code(hub):
    """SEND over `/sockjs/stomp/` (xhr): a STOMP ERROR message, then `c[1008,...]`, as on a WebSocket."""
    cookie = await session_cookie(await make_user("ada"))
    path = f"/sockjs/stomp/000/{secrets.token_hex(6)}"
    assert await request(path + "/xhr", cookie) == (200, "o\n")
    connect = json.dumps(["CONNECT\naccept-version:1.2\nheart-beat:0,0\n\n\x00"]).encode()
    assert await request(path + "/xhr_send", cookie, body=connect) == (204, "")
    (connected,) = json.loads((await request(path + "/xhr", cookie))[1][1:])
    assert connected.startswith("CONNECTED\n")
    send = json.dumps(["SEND\ndestination:/queue/x\n\nhi\x00"]).encode()
    assert await request(path + "/xhr_send", cookie, body=send) == (204, "")
    status, body = await request(path + "/xhr", cookie)
    (error,) = json.loads(body[1:])
    assert status == 200 and error.startswith("ERROR\n") and "SEND" in error
    status, body = await request(path + "/xhr", cookie)
    assert body.startswith("c[1008,")
