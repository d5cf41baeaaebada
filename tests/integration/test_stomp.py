"""STOMP over WebSocket (PROTOCOL section 4.1) on two real daphne instances on RabbitMQ, with stock clients.

Sockets are opened on instance A; events are published over REST on
instance B, so every live event crosses the broker. stomp.py
(`WSStompConnection`) and @stomp/stompjs 7 (in Node) are driven unchanged;
refusals and close codes are read on raw sockets, where the close code shows.
"""

import asyncio
import json
import os
import queue
import subprocess
from pathlib import Path

import pytest
import stomp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from .harness import Deployment, TokenClient, UserSession, connect_ws, handshake_status
from .harness.raw_stomp import RawStomp
from .harness.raw_stomp import stomp_frame as frame
from .robust_service import PASSWORD, USERS_SCRIPT

STOMP_PATH = "/ws/stomp/"
USERS = ["ada", "bob", "cid", "dot", "eve", "fay", "gus", "hal", "ivy"]
ZERO_CURSOR = "0" * 24
CLIENTS = Path(__file__).parent / "clients"
ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_SECS = 10.0
# How long a fuzzed socket may stay quiet: it is then waiting for the rest of an open frame.
QUIET_SECS = 3.0


class Service:
    """Instances A (sockets) and B (publishing), users of their own, a publish+broadcast token."""

    def __init__(self, deployment: Deployment):
        self.deployment = deployment
        self.a = deployment.instance("A")
        self.b = deployment.instance("B")
        deployment.manage("shell", "--no-imports", "-c", USERS_SCRIPT.format(names=[*USERS, "boss"]))
        self.token = deployment.create_service_token("worker", "publish", "broadcast")

    def session(self, username: str) -> UserSession:
        return UserSession(self.a, username, PASSWORD).login()

    def create_request(self, username: str, title: str = "Export") -> dict:
        """Create a request for the user on instance B (one `queued` event)."""
        answer = TokenClient(self.b, self.token).post_json("/api/v1/requests/", {"title": title, "user": username})
        assert answer.status_code == 201, answer.text
        return answer.json()

    def progress(self, request_id: str, progress: int) -> dict:
        body = {"request": request_id, "status": "processing", "progress": progress}
        answer = TokenClient(self.b, self.token).post_json("/api/v1/events/", body)
        assert answer.status_code == 202, answer.text
        return answer.json()

    def broadcast(self, title: str) -> None:
        answer = TokenClient(self.b, self.token).post_json("/api/v1/broadcasts/", {"title": title})
        assert answer.status_code in (201, 202), answer.text


@pytest.fixture(scope="module")
def service(tmp_path_factory, amqp_url, static_files):
    deployment = Deployment(tmp_path_factory.mktemp("stomp"), amqp_url=amqp_url)
    try:
        yield Service(deployment)
    except BaseException:
        print(deployment.log_report())
        raise
    finally:
        deployment.close()


# --- stomp.py --------------------------------------------------------------------------------


class Collector(stomp.ConnectionListener):
    """Every frame stomp.py hands its listener, in order, in a queue."""

    def __init__(self):
        self.frames: queue.Queue = queue.Queue()

    def on_message(self, frame):
        self.frames.put(("MESSAGE", frame.headers, frame.body))

    def on_receipt(self, frame):
        self.frames.put(("RECEIPT", frame.headers, frame.body))

    def on_error(self, frame):
        self.frames.put(("ERROR", frame.headers, frame.body))

    def on_disconnected(self):
        self.frames.put(("DISCONNECTED", {}, ""))

    def next(self, timeout: float = TIMEOUT_SECS):
        try:
            return self.frames.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no frame within {timeout}s") from None

    def messages(self, count: int) -> list[tuple[dict, dict]]:
        """Return the next `count` frames, each a MESSAGE, as (headers, body object)."""
        got = []
        for _ in range(count):
            command, headers, body = self.next()
            assert command == "MESSAGE", (command, headers, body)
            got.append((headers, json.loads(body)))
        return got

    def assert_silent(self, seconds: float) -> None:
        try:
            frame = self.frames.get(timeout=seconds)
        except queue.Empty:
            return
        raise AssertionError(f"expected no frame for {seconds}s, got {frame}")


def stomp_py(service: Service, session: UserSession) -> tuple[stomp.WSStompConnection, Collector]:
    """Return a connected stomp.py client of the user's session on instance A."""
    host, port = service.a.origin.removeprefix("http://").split(":")
    header = {"Cookie": session.cookie_header()}  # websocket-client sends the Origin http://host:port itself
    conn = stomp.WSStompConnection([(host, int(port))], ws_path=STOMP_PATH, header=header, reconnect_attempts_max=1)
    collector = Collector()
    conn.set_listener("collector", collector)
    conn.connect(wait=True, headers={"accept-version": "1.2"})
    return conn, collector


def test_stomp_py_gets_each_destination_its_events_live_from_the_other_instance(service):
    """Each destination carries its selection, with the section-4.1 headers and the event object as body.

    A fifth subscription on another user's request is refused by ERROR, and
    another user's client receives only the announcement.
    """
    ada, bob = service.session("ada"), service.session("bob")
    first = service.create_request("ada", "Before")
    conn, got = stomp_py(service, ada)
    bob_conn, bob_got = stomp_py(service, bob)
    for sub_id, destination in [
        ("all", "/user/queue/notifications"),
        ("req", "/user/queue/requests"),
        ("one", f"/user/queue/requests/{first['id']}"),
        ("ann", "/topic/announcements"),
    ]:
        conn.subscribe(destination, sub_id, headers={"receipt": f"r-{sub_id}"})
        assert got.next()[:2] == ("RECEIPT", {"receipt-id": f"r-{sub_id}"})
    bob_conn.subscribe("/user/queue/notifications", "all", headers={"receipt": "r"})
    assert bob_got.next()[0] == "RECEIPT"

    other = service.create_request("ada", "Other")
    service.progress(first["id"], 50)
    service.broadcast("Maintenance")
    frames = got.messages(2 + 3 + 2)  # other: all, req; progress: all, req, one; broadcast: all, ann
    by_sub: dict[str, list[dict]] = {}
    for headers, body in frames:
        by_sub.setdefault(headers["subscription"], []).append(body)
        assert headers["message-id"] == body["id"] and headers["cursor"] == body["cursor"]
        assert headers["content-type"] == "application/json" and body["type"] == "event"
        assert int(headers["content-length"]) == len(json.dumps(body, separators=(",", ":")).encode())
        assert "ack" not in headers
    assert [e["request"]["id"] for e in by_sub["req"]] == [other["id"], first["id"]]
    assert [e["request"]["progress"] for e in by_sub["one"]] == [50]
    assert [e["kind"] for e in by_sub["all"]] == ["request.status", "request.status", "announcement"]
    assert [e["title"] for e in by_sub["ann"]] == ["Maintenance"]
    got.assert_silent(0.5)
    assert [body["title"] for _, body in bob_got.messages(1)] == ["Maintenance"]
    bob_got.assert_silent(0.5)

    bob_request = service.create_request("bob", "Bob's")
    conn.subscribe(f"/user/queue/requests/{bob_request['id']}", "foreign")
    command, headers, _ = got.next()
    assert command == "ERROR" and "no such destination" in headers["message"]
    bob_conn.disconnect()


def test_stomp_py_replays_a_subscription_from_its_cursor_once_in_order_then_goes_live(service):
    """A SUBSCRIBE with `cursor` replays every event after it, in order, then RECEIPT, then live events once."""
    cid = service.session("cid")
    conn, got = stomp_py(service, cid)
    conn.subscribe("/user/queue/requests", "live", headers={"receipt": "r0"})
    assert got.next()[0] == "RECEIPT"
    request = service.create_request("cid", "Replayed")
    cursor = got.messages(1)[0][0]["cursor"]
    for progress in (10, 20, 30):
        service.progress(request["id"], progress)
    assert [body["request"]["progress"] for _, body in got.messages(3)] == [10, 20, 30]
    conn.disconnect()

    conn, got = stomp_py(service, cid)
    conn.subscribe("/user/queue/requests", "again", headers={"cursor": cursor, "receipt": "replayed"})
    replayed = got.messages(3)
    assert [body["request"]["progress"] for _, body in replayed] == [10, 20, 30]
    assert replayed[0][0]["cursor"] > cursor and replayed[0][0]["cursor"] < replayed[2][0]["cursor"]
    assert got.next()[:2] == ("RECEIPT", {"receipt-id": "replayed"})
    service.progress(request["id"], 40)
    assert [body["request"]["progress"] for _, body in got.messages(1)] == [40]
    got.assert_silent(0.5)
    conn.disconnect()


def test_stomp_py_ack_marks_the_events_read(service):
    """ACK of a MESSAGE of a `client` subscription marks the user's events read up to it (unread 0 over REST)."""
    dot = service.session("dot")
    conn, got = stomp_py(service, dot)
    conn.subscribe("/user/queue/requests", "s", ack="client", headers={"receipt": "subscribed"})
    assert got.next()[:2] == ("RECEIPT", {"receipt-id": "subscribed"})
    service.create_request("dot", "Read me")
    service.create_request("dot", "Me too")
    messages = got.messages(2)
    assert all(headers["ack"] == headers["message-id"] for headers, _ in messages)
    assert dot.get("/api/v1/notifications/").json()["unread"] >= 2
    conn.ack(messages[-1][0]["ack"], receipt="acked")
    assert got.next()[:2] == ("RECEIPT", {"receipt-id": "acked"})
    assert dot.get("/api/v1/notifications/").json()["unread"] == 0
    conn.nack(messages[-1][0]["ack"], receipt="nacked")
    assert got.next()[:2] == ("RECEIPT", {"receipt-id": "nacked"})
    assert dot.get("/api/v1/notifications/").json()["unread"] == 0
    conn.disconnect()


def test_stomp_py_authenticates_with_a_ticket_as_passcode(service):
    """stomp.py with no cookie and a REST ticket as `passcode` connects as the ticket's user and gets its events."""
    ticket = service.session("eve").post_json("/api/v1/ws-tickets/").json()["ticket"]
    host, port = service.a.origin.removeprefix("http://").split(":")
    conn = stomp.WSStompConnection([(host, int(port))], ws_path=STOMP_PATH, reconnect_attempts_max=1)
    got = Collector()
    conn.set_listener("collector", got)
    conn.connect("ignored", ticket, wait=True, headers={"accept-version": "1.2"})
    conn.subscribe("/user/queue/requests", "s", headers={"receipt": "r"})
    assert got.next()[:2] == ("RECEIPT", {"receipt-id": "r"})
    service.create_request("eve", "By ticket")
    assert [body["request"]["title"] for _, body in got.messages(1)] == ["By ticket"]
    conn.disconnect()


# --- raw sockets: refusals and close codes ----------------------------------------------------


CONNECT = frame("CONNECT", {"accept-version": "1.2,1.1", "host": "anything"})


async def raw(service: Service, session: UserSession | None = None, *, connect: str | None = CONNECT, **kwargs):
    headers = {"Cookie": session.cookie_header()} if session is not None else {}
    ws = await connect_ws(service.a, kwargs.pop("path", STOMP_PATH), headers=headers, **kwargs)
    client = RawStomp(ws)
    if connect is not None:
        await ws.send(connect)
    return client


async def connected(service: Service, username: str, **kwargs) -> RawStomp:
    client = await raw(service, service.session(username), **kwargs)
    assert (await client.next()).command == "CONNECTED"
    return client


async def test_the_handshake_selects_the_highest_stomp_version_and_refuses_a_foreign_origin(service):
    """v12/v11 offers select the highest; `v10.stomp` alone and a foreign Origin are refused at the handshake."""
    cookie = {"Cookie": service.session("eve").cookie_header()}
    async with connect_ws(service.a, STOMP_PATH, subprotocols=["v11.stomp", "v12.stomp"], headers=cookie) as ws:
        assert ws.subprotocol == "v12.stomp"
        await ws.send(frame("CONNECT", {"accept-version": "1.1,1.2"}))
        first = await RawStomp(ws).next()
        assert (first.command, first.get("version"), first.get("heart-beat")) == ("CONNECTED", "1.2", "25000,25000")
        assert first.get("user-name") == "eve" and len(first.get("cursor")) == 24 and first.get("session")
    async with connect_ws(service.a, "/ws/notifications/", subprotocols=["v11.stomp"], headers=cookie) as ws:
        assert ws.subprotocol == "v11.stomp"
        await ws.send(CONNECT)
        assert (await RawStomp(ws).next()).get("version") == "1.1"
    assert await handshake_status(service.a, STOMP_PATH, subprotocols=["v10.stomp"], headers=cookie) == 403
    assert await handshake_status(service.a, STOMP_PATH, headers=cookie, origin="http://evil.example") == 403


async def test_unauthenticated_gets_error_then_4401_and_a_ticket_in_passcode_authenticates(service):
    """No session and no ticket: ERROR `not authenticated`, close 4401; a ticket as `passcode` is let in."""
    client = await raw(service)
    assert await client.error_then_close() == ("not authenticated", 4401)
    ticket = service.session("eve").post_json("/api/v1/ws-tickets/").json()["ticket"]
    client = await raw(service, connect=frame("STOMP", {"accept-version": "1.2", "passcode": ticket}))
    answer = await client.next()
    assert (answer.command, answer.get("user-name")) == ("CONNECTED", "eve")
    await client.ws.close()


async def test_a_client_without_origin_or_cookie_authenticates_with_a_passcode_ticket(service):
    """A mobile client sends neither Origin nor cookie: let in at the handshake, it connects with its ticket."""
    ticket = service.session("eve").post_json("/api/v1/ws-tickets/").json()["ticket"]
    client = await raw(service, origin=None, connect=frame("CONNECT", {"accept-version": "1.2", "passcode": ticket}))
    answer = await client.next()
    assert (answer.command, answer.get("user-name")) == ("CONNECTED", "eve")
    await client.ws.close()
    refused = await raw(service, origin=None)
    assert await refused.error_then_close() == ("not authenticated", 4401)
    assert await handshake_status(service.a, "/ws/notifications/", origin=None) == 403  # JSON: no in-band ticket


async def test_oversize_flooding_send_and_bad_destinations_get_error_then_their_close(service):
    """A frame over 64 KiB: 1009; flooding: 4429; SEND and an unknown destination: ERROR then close."""
    client = await connected(service, "fay")
    await client.ws.send(frame("SUBSCRIBE", {"id": "1", "destination": "/topic/x" + "x" * 70_000}))
    assert (await client.error_then_close())[1] == 1009

    client = await connected(service, "fay")
    for index in range(200):
        try:
            await client.ws.send(frame("SUBSCRIBE", {"id": str(index), "destination": "/topic/announcements"}))
            await client.ws.send(frame("UNSUBSCRIBE", {"id": str(index)}))
        except ConnectionClosed:
            break
    assert await client.error_then_close() == ("too many frames", 4429)

    client = await connected(service, "fay")
    await client.ws.send(frame("SEND", {"destination": "/queue/x"}, "hi"))
    message, code = await client.error_then_close()
    assert "SEND" in message and code == 1008

    client = await connected(service, "fay")
    await client.ws.send(frame("SUBSCRIBE", {"id": "1", "destination": "/queue/elsewhere", "receipt": "r"}))
    error = await client.next()
    assert error.command == "ERROR" and error.get("receipt-id") == "r"


async def test_logout_ends_the_stomp_socket_with_error_then_4000(service):
    """Signing out sends ERROR `session ended` and closes 4000."""
    gus = service.session("gus")
    client = await raw(service, gus)
    assert (await client.next()).command == "CONNECTED"
    assert (await asyncio.to_thread(gus.logout)).status_code in (200, 302)
    assert await client.error_then_close() == ("session ended", 4000)


async def test_frames_split_across_and_packed_into_messages_text_or_binary_are_served(service):
    """A CONNECT split over three binary messages, then SUBSCRIBE and DISCONNECT packed in one: all served."""
    client = await raw(service, service.session("hal"), connect=None)
    raw_connect = CONNECT.encode()
    for part in (raw_connect[:5], raw_connect[5:20], raw_connect[20:]):
        await client.ws.send(part)
    assert (await client.next()).command == "CONNECTED"
    packed = "\n" + frame("SUBSCRIBE", {"id": "a", "destination": "/topic/announcements", "receipt": "s"}) + "\n"
    await client.ws.send(packed + frame("DISCONNECT", {"receipt": "bye"}))
    assert (await client.next()).get("receipt-id") == "s"
    assert (await client.next()).get("receipt-id") == "bye"
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(client.ws.recv(), TIMEOUT_SECS)
    assert client.ws.close_code == 1000


async def hostile_bytes(service: Service, cookie: str, data: bytes, after_connect: bool) -> None:
    """Send `data` (after CONNECT or instead of it), then DISCONNECT; fail on 1011 or an `internal error`."""
    ws = await connect_ws(service.a, STOMP_PATH, headers={"Cookie": cookie})
    client = RawStomp(ws)
    if after_connect:
        await ws.send(CONNECT)
        assert (await client.next()).command == "CONNECTED"
    await ws.send(data)
    await ws.send(frame("DISCONNECT", {"receipt": "end"}))
    try:
        while True:
            received = await asyncio.wait_for(ws.recv(), QUIET_SECS)
            assert b"internal error" not in (received if isinstance(received, bytes) else received.encode())
    except ConnectionClosed:
        assert ws.close_code not in (1011, None), ws.close_code
    except TimeoutError:  # the bytes left a frame open (a long content-length): the socket waits for the rest
        await ws.close()


async def fresh_client_is_served(service: Service) -> None:
    client = await connected(service, "ivy")
    await client.ws.send(frame("SUBSCRIBE", {"id": "a", "destination": "/user/queue/notifications", "receipt": "r"}))
    assert (await client.next()).get("receipt-id") == "r"
    await asyncio.to_thread(service.create_request, "ivy", "After fuzzing")
    message = await client.next()
    assert message.command == "MESSAGE" and json.loads(message.body)["request"]["title"] == "After fuzzing"
    await client.ws.close()


def test_arbitrary_bytes_get_error_then_a_clean_close_or_are_served_never_1011(service):
    """Hostile bytes on a real socket (200 examples): ERROR then a close other than 1011, or served.

    Afterwards a fresh client still gets CONNECTED and a live event.
    """
    cookie = service.session("ivy").cookie_header()

    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(data=st.binary(max_size=300) | st.text(max_size=300).map(str.encode), after_connect=st.booleans())
    def example(data: bytes, after_connect: bool) -> None:
        asyncio.run(hostile_bytes(service, cookie, data, after_connect))

    example()
    asyncio.run(fresh_client_is_served(service))


# --- @stomp/stompjs ---------------------------------------------------------------------------


def run_node(script: str, *args: str, timeout: float = 40.0) -> list[dict]:
    """Run a Node client script; return the JSON lines it printed."""
    done = subprocess.run(
        ["node", str(CLIENTS / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, "NODE_PATH": str(ROOT / "node_modules")},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def test_stompjs_replays_from_a_cursor_then_gets_live_events_and_acks_them_read(service):
    """stompjs 7: CONNECTED, a subscription replayed from its cursor before the receipt, a live event, ACK as read.

    The cursor is the one stomp.py saw on the request's `queued` event; the
    event published while no client was connected comes in the replay.
    """
    ada = service.session("ada")
    request = service.create_request("ada", "For stompjs")
    destination = "/user/queue/requests/" + request["id"]
    conn, got = stomp_py(service, ada)
    conn.subscribe(destination, "s", headers={"cursor": ZERO_CURSOR})
    cursor = got.messages(1)[0][0]["cursor"]
    conn.disconnect()
    service.progress(request["id"], 60)

    url = "ws" + service.a.origin.removeprefix("http") + STOMP_PATH
    publish = json.dumps({"origin": service.b.origin, "token": service.token, "request": request["id"]})
    lines = run_node("stomp_client.mjs", url, service.a.origin, ada.cookie_header(), destination, cursor, publish)
    kinds = [line["frame"] for line in lines]
    assert kinds[0] == "CONNECTED" and lines[0]["headers"]["version"] == "1.2", lines
    replayed = kinds.index("RECEIPT")
    assert [line["body"]["request"]["progress"] for line in lines[1:replayed]] == [60], lines
    live = [line for line in lines[replayed + 1 :] if line["frame"] == "MESSAGE"]
    assert [line["body"]["request"]["progress"] for line in live] == [70], lines
    assert live[0]["headers"]["ack"] == live[0]["headers"]["message-id"] == live[0]["body"]["id"]
    assert lines[-1] == {"frame": "ACKED", "unread": 0}, lines


def test_stompjs_sees_error_then_4401_without_authentication(service):
    """stompjs 7 without a session or ticket: its onStompError gets `not authenticated`, the socket closes 4401."""
    url = "ws" + service.a.origin.removeprefix("http") + STOMP_PATH
    lines = run_node("stomp_refused.mjs", url, service.a.origin)
    assert {"frame": "ERROR", "message": "not authenticated"} in lines, lines
    assert {"closed": 4401} in lines, lines


def stompjs_closes(service: Service, session: UserSession, mode: str) -> subprocess.Popen:
    url = "ws" + service.a.origin.removeprefix("http") + STOMP_PATH
    return subprocess.Popen(
        ["node", str(CLIENTS / "stomp_closes.mjs"), url, service.a.origin, session.cookie_header(), mode],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def lines_of(process: subprocess.Popen, timeout: float = 40.0) -> list[dict]:
    out, _ = process.communicate(timeout=timeout)
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


@pytest.mark.parametrize(
    ("mode", "message", "code"), [("oversize", "frame too large", 1009), ("flood", "too many frames", 4429)]
)
def test_stompjs_sees_error_then_the_close_of_its_limit(service, mode, message, code):
    """stompjs 7: a SEND over 64 KiB gets ERROR and 1009; 200 SUBSCRIBE/UNSUBSCRIBE at once get ERROR and 4429."""
    lines = lines_of(stompjs_closes(service, service.session("fay"), mode))
    assert lines == [{"frame": "CONNECTED"}, {"frame": "ERROR", "message": message}, {"closed": code}], lines


def test_stompjs_sees_error_then_4000_on_logout(service):
    """stompjs 7: signing out of the session its socket was opened with gets ERROR `session ended`, close 4000."""
    gus = service.session("gus")
    process = stompjs_closes(service, gus, "wait")
    try:
        assert json.loads(process.stdout.readline()) == {"frame": "CONNECTED"}
        assert gus.logout().status_code in (200, 302)
        lines = lines_of(process)
    finally:
        process.kill()
    assert lines == [{"frame": "ERROR", "message": "session ended"}, {"closed": 4000}], lines
