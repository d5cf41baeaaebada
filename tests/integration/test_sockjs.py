"""SockJS 0.3.3 on real daphne instances on RabbitMQ (PROTOCOL section 4.2), with raw HTTP and sockjs-client.

The requests of one session alternate between instances A and B: the
session lives where it was opened and is reached from the other instance
through the channel layer, with no stickiness.
"""

import json
import secrets
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from .harness import origin_of

PROJECT_DIR = Path(__file__).resolve().parents[2]
CLIENTS = Path(__file__).parent / "clients"
BASE = "/sockjs/notifications"
TIMEOUT = httpx.Timeout(15.0)


def new_session_path(server: str = "000") -> str:
    return f"{BASE}/{server}/{secrets.token_hex(8)}"


class RawSockJs:
    """One SockJS session driven by hand, each request sent to the instance chosen for it."""

    def __init__(self, cookie: str | None = None, ticket: str | None = None):
        self.path = new_session_path()
        self.headers = {"Cookie": cookie} if cookie else {}
        self.query = f"?ticket={ticket}" if ticket else ""
        self.client = httpx.Client(timeout=TIMEOUT, trust_env=False)

    def url(self, instance, transport: str) -> str:
        return f"{origin_of(instance)}{self.path}/{transport}{self.query}"

    def poll(self, instance) -> httpx.Response:
        return self.client.post(self.url(instance, "xhr"), headers=self.headers)

    def send(self, instance, *messages: str, **headers) -> httpx.Response:
        body = json.dumps(list(messages))
        return self.client.post(self.url(instance, "xhr_send"), content=body, headers={**self.headers, **headers})

    def open(self, instance, welcome_on=None) -> dict:
        """Open the session on `instance` (`o`), then poll (on `welcome_on`, else the same) for its welcome."""
        assert self.poll(instance).text == "o\n"
        (welcome,) = self.messages(welcome_on or instance, 1)
        assert welcome["type"] == "welcome", welcome
        return welcome

    def exchange(self, send_on, poll_on, frame: dict | str) -> dict:
        """Send one frame through `send_on`, then poll `poll_on` for the one message it answers."""
        assert self.send(send_on, frame if isinstance(frame, str) else json.dumps(frame)).status_code == 204
        (answer,) = self.messages(poll_on, 1)
        return answer

    def messages(self, instance, count: int) -> list[dict]:
        """Poll (on `instance`) until `count` messages arrived; return them parsed."""
        got: list[dict] = []
        deadline = time.monotonic() + 15
        while len(got) < count:
            assert time.monotonic() < deadline, got
            answer = self.poll(instance)
            assert answer.status_code == 200, answer.text
            frame = answer.text.rstrip("\n")
            if frame.startswith("a"):
                got += [json.loads(m) for m in json.loads(frame[1:])]
            else:
                assert frame == "h", frame
        return got


def publish(service, title: str) -> None:
    with service.publisher(service.a) as publisher:
        answer = publisher.post_json("/api/v1/requests/", {"title": title, "user": "ada"})
        assert answer.status_code == 201, answer.text


def test_info_answers_the_sockjs_json_and_a_foreign_origin_gets_403(service):
    """`info` says websocket true and no cookie needed; any request with a foreign Origin is refused with 403."""
    answer = httpx.get(f"{origin_of(service.a)}{BASE}/info", trust_env=False)
    assert answer.status_code == 200
    info = answer.json()
    assert info["websocket"] is True and info["cookie_needed"] is False and isinstance(info["entropy"], int)
    foreign = {"Origin": "http://evil.example"}
    assert httpx.get(f"{origin_of(service.a)}{BASE}/info", headers=foreign, trust_env=False).status_code == 403
    session = RawSockJs(service.session("ada").cookie_header())
    assert session.client.post(session.url(service.a, "xhr"), headers={**session.headers, **foreign}).status_code == 403
    assert session.poll(service.a).text == "o\n"
    assert session.send(service.a, "{}", Origin="http://evil.example").status_code == 403


def test_a_polling_session_alternating_between_instances_gets_welcome_events_and_pong(service):
    """xhr polls and xhr_sends of one session alternate A/B: welcome, live events, a pong; latency measured."""
    session = RawSockJs(service.session("ada").cookie_header())
    welcome = session.open(service.a, welcome_on=service.b)
    assert welcome["user"]["username"] == "ada"
    started = time.monotonic()
    assert session.exchange(service.b, service.a, {"type": "ping", "ts": 7}) == {"type": "pong", "ts": 7}
    relayed_secs = time.monotonic() - started
    publish(service, "Across instances")
    (event,) = session.messages(service.b, 1)
    assert event["type"] == "event" and event["request"]["title"] == "Across instances"
    started = time.monotonic()
    assert session.exchange(service.a, service.b, {"type": "ping", "ts": 8}) == {"type": "pong", "ts": 8}
    local_secs = time.monotonic() - started
    print(f"xhr_send and poll, relayed send {relayed_secs * 1000:.1f} ms, local send {local_secs * 1000:.1f} ms")


def test_a_bad_frame_gets_an_error_and_a_broken_payload_gets_500(service):
    """Inside SockJS, a bad JSON frame gets section 1's error frame; a payload that is no JSON array gets 500."""
    session = RawSockJs(service.session("ada").cookie_header())
    session.open(service.a)
    error = session.exchange(service.b, service.b, '{"type": "nope"}')
    assert error["type"] == "error" and error["code"] == "unknown_type"
    broken = session.client.post(session.url(service.b, "xhr_send"), content=b"[1,", headers=session.headers)
    assert broken.status_code == 500 and broken.text == "Broken JSON encoding."
    empty = session.client.post(session.url(service.a, "xhr_send"), content=b"", headers=session.headers)
    assert empty.status_code == 500 and empty.text == "Payload expected."


def test_unknown_sessions_get_404_and_another_user_gets_403(service):
    """xhr_send to a session nobody opened answers 404; bob's cookie on ada's session answers 403 on A and B."""
    stranger = RawSockJs(service.session("ada").cookie_header())
    assert stranger.send(service.b, "{}").status_code == 404
    session = RawSockJs(service.session("ada").cookie_header())
    assert session.poll(service.a).text == "o\n"
    bob = {"Cookie": service.session("bob").cookie_header()}
    for instance in (service.a, service.b):
        assert session.client.post(session.url(instance, "xhr"), headers=bob).status_code == 403
        answer = session.client.post(session.url(instance, "xhr_send"), content='["{}"]', headers=bob)
        assert answer.status_code == 403


def test_without_credentials_the_session_opens_and_closes_with_4401(service):
    """No cookie and no ticket: `o`, then `c[4401,"not authenticated"]`, as the socket's 4401."""
    session = RawSockJs()
    assert session.poll(service.a).text == "o\n"
    assert session.poll(service.b).text == 'c[4401,"not authenticated"]\n'


def test_a_ticket_opens_a_session_whose_later_requests_carry_the_same_ticket(service):
    """`?ticket=` authenticates the first request; the same (spent) ticket then admits the session's requests."""
    ticket = service.session("ada").post_json("/api/v1/ws-tickets/").json()["ticket"]
    session = RawSockJs(ticket=ticket)
    assert session.poll(service.b).text == "o\n"
    assert session.messages(service.a, 1)[0]["type"] == "welcome"
    other = RawSockJs(ticket=ticket)  # a spent ticket opens nothing new
    assert other.poll(service.a).text == "o\n"
    assert other.poll(service.a).text == 'c[4401,"not authenticated"]\n'


def test_xhr_streaming_and_eventsource_relayed_from_the_other_instance_deliver_live_events(service):
    """A stream opened on B of a session held by A carries the prelude, then live events as they are published."""
    cookie = service.session("ada").cookie_header()
    for transport, prelude in (("xhr_streaming", "h" * 2048 + "\n"), ("eventsource", "\r\n")):
        session = RawSockJs(cookie)
        assert session.poll(service.a).text == "o\n"
        method = "GET" if transport == "eventsource" else "POST"
        with session.client.stream(method, session.url(service.b, transport), headers=session.headers) as answer:
            assert answer.status_code == 200
            chunks = answer.iter_text()
            text = ""
            while len(text) < len(prelude):
                text += next(chunks)
            assert text.startswith(prelude)
            while "welcome" not in text:
                text += next(chunks)
            publish(service, f"Streamed over {transport}")
            while f"Streamed over {transport}" not in text:
                text += next(chunks)
        frame_text = text[len(prelude) :]
        if transport == "eventsource":
            assert frame_text.startswith("data: a[")
        else:
            assert frame_text.startswith("a[")


def run_client(script: str, *args: str, timeout: float = 40) -> list[dict]:
    done = subprocess.run(
        ["node", str(CLIENTS / script), *args], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("transports", ["xhr-streaming", "xhr-polling", "websocket"])
def test_sockjs_client_gets_welcome_pong_and_a_live_event(service, transports):
    """sockjs-client 1.6.1 in Node, limited to one transport, with a ticket: welcome, pong, then a live event."""
    ticket = service.session("ada").post_json("/api/v1/ws-tickets/").json()["ticket"]
    url = f"{origin_of(service.a)}{BASE}?ticket={ticket}"
    with subprocess.Popen(
        ["node", str(CLIENTS / "sockjs_json.mjs"), url, transports],
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as client:
        lines = []
        try:
            for line in client.stdout:
                lines.append(json.loads(line))
                if lines[-1].get("type") == "pong":
                    publish(service, f"Hello {transports}")
                if lines[-1].get("type") == "event" or lines[-1].get("kind") == "close":
                    break
        finally:
            client.kill()
    kinds = [line.get("type") or line.get("kind") for line in lines]
    assert kinds[:4] == ["open", "welcome", "pong", "event"], lines
    assert lines[1]["transport"] == transports
    assert lines[3]["request"]["title"] == f"Hello {transports}"


@pytest.mark.parametrize("transports", ["websocket", "xhr-streaming", "xhr-polling"])
def test_stompjs_over_sockjs_client_subscribes_and_gets_a_live_event(service, transports):
    """stompjs 7 with `webSocketFactory: () => new SockJS(url)` on /sockjs/stomp/: CONNECTED, RECEIPT, a MESSAGE."""
    ticket = service.session("ada").post_json("/api/v1/ws-tickets/").json()["ticket"]
    url = f"{origin_of(service.b)}/sockjs/stomp?ticket={ticket}"
    with subprocess.Popen(
        ["node", str(CLIENTS / "sockjs_stomp.mjs"), url, transports],
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as client:
        lines = []
        try:
            for line in client.stdout:
                lines.append(json.loads(line))
                if lines[-1]["kind"] == "receipt":
                    publish(service, f"STOMP over {transports}")
                if lines[-1]["kind"] in ("message", "close", "timeout", "error"):
                    break
        finally:
            client.kill()
    assert [line["kind"] for line in lines] == ["connected", "receipt", "message"], lines
    assert lines[0]["user"] == "ada" and lines[0]["version"] == "1.2"
    message = lines[2]
    assert message["destination"] == "/user/queue/notifications"
    assert message["body"]["type"] == "event" and message["body"]["request"]["title"] == f"STOMP over {transports}"


def median_secs(timed) -> float:
    samples = []
    for _ in range(15):
        started = time.monotonic()
        timed()
        samples.append(time.monotonic() - started)
    return sorted(samples)[len(samples) // 2]


def test_a_relayed_request_costs_a_few_milliseconds_more_than_a_local_one(service):
    """xhr_send and a poll of a session held by A, sent to B: the relay adds little (medians printed)."""
    session = RawSockJs(service.session("ada").cookie_header())
    session.open(service.a)
    ping = json.dumps({"type": "ping", "ts": 1})

    def send_then_poll(instance):
        def timed():
            assert session.send(instance, ping).status_code == 204
            assert session.poll(instance).text.startswith("a[")

        return timed

    local, relayed = median_secs(send_then_poll(service.a)), median_secs(send_then_poll(service.b))
    opened = median_secs(lambda: RawSockJs(session.headers["Cookie"]).poll(service.a))
    print(
        f"\nsend+poll local {local * 1000:.1f} ms, relayed {relayed * 1000:.1f} ms; new session {opened * 1000:.0f} ms"
    )
    assert relayed < local + 0.1


def test_logout_through_the_other_instance_closes_the_session_with_4000(service):
    """Signing out through B ends ada's SockJS session held by A: the next poll, on B, gets c[4000]."""
    user = service.session("ada", service.b)
    session = RawSockJs(user.cookie_header())
    session.open(service.a)
    assert user.logout().status_code in (200, 302)
    deadline = time.monotonic() + 10
    while (frame := session.poll(service.b).text) == "h\n":
        assert time.monotonic() < deadline
    assert frame == 'c[4000,"session ended"]\n'


async def test_the_websocket_transport_checks_origin_and_takes_a_ticket_without_one(service):
    """A foreign Origin is refused at the handshake (403); a ticket client sending no Origin gets `o`, `a[welcome]`."""
    from .harness import connect_ws, handshake_status

    path = new_session_path() + "/websocket"
    headers = {"Cookie": service.session("ada").cookie_header()}
    assert await handshake_status(service.a, path, origin="http://evil.example", headers=headers) == 403
    assert await handshake_status(service.a, path, origin=None, headers=headers) == 403
    ticket = service.session("ada").post_json("/api/v1/ws-tickets/").json()["ticket"]
    async with connect_ws(service.b, new_session_path() + "/websocket", origin=None, query={"ticket": ticket}) as ws:
        assert await ws.recv() == "o"
        welcome = json.loads(json.loads((await ws.recv())[1:])[0])
        assert welcome["type"] == "welcome" and welcome["user"]["username"] == "ada"
        await ws.send(json.dumps([json.dumps({"type": "ping", "ts": "raw"})]))
        assert json.loads(json.loads((await ws.recv())[1:])[0]) == {"type": "pong", "ts": "raw"}
