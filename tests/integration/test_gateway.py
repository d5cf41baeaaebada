"""REST over the socket (PROTOCOL 5.1) on two real daphne instances on RabbitMQ, with a real upstream.

Instance A signs upstream calls with an RSA key (RS256) and gives up after
2 s; B signs with an EC P-256 key (ES256) and waits 30 s. The upstream is a
stdlib HTTP server in a thread that verifies every JWT with the public keys
and misbehaves on demand (tests/integration/upstream_server.py). Events are
published on the other instance, so live events cross the broker.
"""

import asyncio
import json
import time

import pytest
import stomp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .harness import Deployment, TokenClient, UserSession, connect_ws, free_port, of_type, recv_until
from .test_fanout import create_request, report
from .test_sockjs import RawSockJs
from .test_stomp import CONNECT, STOMP_PATH, Collector, RawStomp, frame
from .upstream_server import UpstreamServer

PASSWORD = "correct-horse-battery"
A_TIMEOUT_SECS = 2
WAIT_SECS = 15.0


def write_private_key(path, key) -> str:
    encoding, private_format = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8
    path.write_bytes(key.private_bytes(encoding, private_format, serialization.NoEncryption()))
    return str(path)


class Service:
    """Instances A (RS256, 2 s timeout) and B (ES256, 30 s), users ada and bob, the upstream `billing`."""

    def __init__(self, deployment: Deployment, key_dir):
        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ec_key = ec.generate_private_key(ec.SECP256R1())
        public_keys = {"RS256": rsa_key.public_key(), "ES256": ec_key.public_key()}
        self.upstream = UpstreamServer("billing", public_keys).start()
        upstreams = f"billing={self.upstream.base_url},down=http://127.0.0.1:{free_port()}/"
        shared = {"NOTIFY_GATEWAY_UPSTREAMS": upstreams}
        self.a = deployment.instance(
            "A",
            env={
                **shared,
                "NOTIFY_GATEWAY_PRIVATE_KEY_FILE": write_private_key(key_dir / "rsa.pem", rsa_key),
                "NOTIFY_GATEWAY_TIMEOUT_SECS": str(A_TIMEOUT_SECS),
            },
        )
        self.b = deployment.instance(
            "B", env={**shared, "NOTIFY_GATEWAY_PRIVATE_KEY_FILE": write_private_key(key_dir / "ec.pem", ec_key)}
        )
        deployment.create_user("ada", PASSWORD)
        deployment.create_user("bob", PASSWORD)
        self.publish_token = deployment.create_service_token("worker", "publish")

    def create_request(self, username: str, title: str) -> str:
        with TokenClient(self.b, self.publish_token) as publisher:
            return create_request(publisher, username, title)


@pytest.fixture(scope="module")
def service(tmp_path_factory, amqp_url, static_files):
    deployment = Deployment(tmp_path_factory.mktemp("gateway"), amqp_url=amqp_url)
    built = None
    try:
        built = Service(deployment, tmp_path_factory.mktemp("gateway-keys"))
        yield built
    except BaseException:
        print(deployment.log_report())
        raise
    finally:
        if built is not None:
            built.upstream.close()
        deployment.close()


async def live_socket(service: Service, username: str, instance):
    """Open a cookie-authenticated JSON socket on `instance`, resumed: live events come next."""
    with UserSession(instance, username, PASSWORD) as session:
        session.login()
        ws = await session.websocket(instance=instance)
    welcome = await recv_until(ws, of_type("welcome"))
    await ws.send(json.dumps({"type": "resume", "cursor": welcome["cursor"]}))
    await recv_until(ws, of_type("replayed"))
    return ws


async def ask(ws, ref: str, timeout: float = WAIT_SECS, **fields) -> dict:
    """Send a `request` frame; return the `response` or `error` carrying its ref."""
    await ws.send(json.dumps({"type": "request", "ref": ref, **fields}))
    return await answer_to(ws, ref, timeout)


async def answer_to(ws, ref: str, timeout: float = WAIT_SECS) -> dict:
    return await recv_until(ws, lambda f: f.get("ref") == ref and f["type"] in ("response", "error"), timeout)


# --- this service's own views ------------------------------------------------------------------


async def test_local_views_run_as_the_socket_user_with_their_permissions(service):
    """ada lists her own requests only, gets 404 for bob's, and 403 publishing (no publish permission), as over HTTP."""
    mine = await asyncio.to_thread(service.create_request, "ada", "Ada's report")
    theirs = await asyncio.to_thread(service.create_request, "bob", "Bob's report")
    ws = await live_socket(service, "ada", service.a)
    listed = await ask(ws, "list", method="GET", path="/api/v1/requests/")
    assert listed["status"] == 200
    assert {item["id"] for item in listed["body"]["results"]} == {mine}
    other = await ask(ws, "other", method="GET", path=f"/api/v1/requests/{theirs}/")
    assert other["status"] == 404
    own = await ask(ws, "own", method="GET", path=f"/api/v1/requests/{mine}/events/")
    assert own["status"] == 200
    publish = await ask(ws, "pub", method="POST", path="/api/v1/events/", body={"request": mine, "status": "failed"})
    assert publish["status"] == 403 and "publish" in publish["body"]["detail"]
    await ws.close()


async def test_idempotency_key_makes_a_retry_answer_the_first_answer(service):
    """Two POSTs with one Idempotency-Key create one request; the same key with another body answers 422."""
    ws = await live_socket(service, "ada", service.b)
    frame = {"method": "POST", "path": "/api/v1/requests/", "headers": {"Idempotency-Key": f"k-{time.time()}"}}
    first = await ask(ws, "1", body={"title": "Once"}, **frame)
    again = await ask(ws, "2", body={"title": "Once"}, **frame)
    assert first["status"] == again["status"] == 201 and first["body"]["id"] == again["body"]["id"]
    reused = await ask(ws, "3", body={"title": "Another"}, **frame)
    assert reused["status"] == 422
    listed = await ask(ws, "4", method="GET", path="/api/v1/requests/")
    assert [item["title"] for item in listed["body"]["results"]].count("Once") == 1
    await ws.close()


async def test_bad_requests_are_error_frames_and_the_socket_stays(service):
    """Bad method, unknown service, a path outside /api/v1/, a forbidden header: errors with the ref; then a ping."""
    ws = await live_socket(service, "ada", service.a)
    cases = {
        "method": ({"method": "TRACE", "path": "/api/v1/requests/"}, "bad_request"),
        "service": ({"method": "GET", "path": "/x", "service": "nowhere"}, "bad_request"),
        "outside": ({"method": "GET", "path": "/admin/"}, "forbidden"),
        "header": ({"method": "GET", "path": "/api/v1/requests/", "headers": {"Cookie": "x=1"}}, "bad_request"),
    }
    for ref, (fields, code) in cases.items():
        refused = await ask(ws, ref, **fields)
        assert refused["type"] == "error" and refused["code"] == code, refused
    await ws.send(json.dumps({"type": "ping", "ts": 1, "ref": "alive"}))
    assert (await recv_until(ws, of_type("pong")))["ref"] == "alive"
    await ws.close()


# --- upstreams ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("instance", "algorithm"), [("a", "RS256"), ("b", "ES256")])
async def test_an_upstream_gets_a_verified_jwt_naming_the_user(service, instance, algorithm):
    """The upstream verifies the JWT (iss, sub, aud, exp 60 s) and sees the path appended to its base, the body,
    JSON content type and the allowed headers, never the socket's cookie."""
    ws = await live_socket(service, "ada", getattr(service, instance))
    answer = await ask(
        ws,
        "echo",
        method="PATCH",
        path="/echo/orders/7?expand=1",
        service="billing",
        body={"qty": 2, "note": "é"},
        headers={"Idempotency-Key": "ord-7", "Accept-Language": "fr"},
    )
    assert answer["status"] == 200, answer
    seen = answer["body"]
    claims = seen["claims"]
    assert claims["sub"] == "ada" and claims["aud"] == "billing" and claims["iss"] == "notify"
    assert claims["exp"] - claims["iat"] == 60 and abs(claims["exp"] - time.time() - 60) < WAIT_SECS
    assert seen["method"] == "PATCH" and seen["path"] == "/base/echo/orders/7?expand=1"
    assert seen["content_type"] == "application/json" and seen["body"] == {"qty": 2, "note": "é"}
    assert seen["idempotency_key"] == "ord-7" and seen["accept_language"] == "fr" and seen["cookie"] is None
    await ws.close()


async def test_upstream_failures_answer_with_their_status_and_the_socket_stays(service):
    """500 passes through; a text body is a string; a dropped connection 502; a refused one 502; slow 504; huge 413."""
    ws = await live_socket(service, "ada", service.a)
    expectations = {
        "fail": ({"path": "/fail", "service": "billing"}, 500),
        "text": ({"path": "/text", "service": "billing"}, 201),
        "close": ({"path": "/close", "service": "billing"}, 502),
        "down": ({"path": "/anything", "service": "down"}, 502),
        "hold": ({"path": "/hold", "service": "billing"}, 504),
        "huge": ({"path": "/huge", "service": "billing"}, 413),
        "stream": ({"path": "/huge-stream", "service": "billing"}, 413),
    }
    for ref, (fields, status) in expectations.items():
        started = time.monotonic()
        answer = await ask(ws, ref, method="GET", **fields)
        assert answer["type"] == "response" and answer["status"] == status, answer
        assert time.monotonic() - started < A_TIMEOUT_SECS + WAIT_SECS
    text = await ask(ws, "text2", method="GET", path="/text", service="billing")
    assert text["body"] == "plain words"
    await ws.send(json.dumps({"type": "ping", "ts": 2, "ref": "alive"}))
    assert (await recv_until(ws, of_type("pong")))["ref"] == "alive"
    await ws.close()


async def test_the_ninth_request_in_flight_is_rate_limited_while_events_still_arrive(service):
    """Eight held upstream calls fill ada's socket on B: a ninth is `rate_limited`; an event posted on A arrives
    meanwhile, and a second socket's request is answered; released, the eight answer 200."""
    service.upstream.release.clear()
    ws = await live_socket(service, "ada", service.b)
    other = await live_socket(service, "ada", service.b)
    request_id = await asyncio.to_thread(service.create_request, "ada", "While busy")
    await recv_until(ws, of_type("event"))
    try:
        for index in range(8):
            await ws.send(
                json.dumps(
                    {"type": "request", "ref": f"h{index}", "method": "GET", "path": "/hold", "service": "billing"}
                )
            )
        for _ in range(8):  # every one reached the upstream: they are in flight
            assert await asyncio.to_thread(service.upstream.holding.acquire, True, WAIT_SECS)
        refused = await ask(ws, "ninth", method="GET", path="/echo", service="billing")
        assert refused["type"] == "error" and refused["code"] == "rate_limited"
        with TokenClient(service.a, service.publish_token) as publisher:
            await asyncio.to_thread(report, publisher, request_id, "processing", 10)
        event = await recv_until(ws, of_type("event"))
        assert event["request"]["id"] == request_id and event["request"]["progress"] == 10
        elsewhere = await ask(other, "free", method="GET", path="/echo", service="billing")
        assert elsewhere["status"] == 200
    finally:
        service.upstream.release.set()
    answers = {}
    while len(answers) < 8:  # bounded: each wait fails the test after WAIT_SECS
        answer = await recv_until(ws, lambda f: f["type"] == "response" and f["ref"].startswith("h"), WAIT_SECS)
        answers[answer["ref"]] = answer["status"]
    assert answers == {f"h{index}": 200 for index in range(8)}
    after = await ask(ws, "after", method="GET", path="/api/v1/requests/")
    assert after["status"] == 200
    await ws.close()
    await other.close()


async def test_round_trips_answer_200_and_their_times_are_reported(service):
    """20 local GETs and 20 upstream calls in a row on one socket all answer 200; their median times are printed."""
    ws = await live_socket(service, "ada", service.b)
    timings = {"local": [], "upstream": []}
    for index in range(20):
        for target, fields in (
            ("local", {"path": "/api/v1/requests/"}),
            ("upstream", {"path": "/echo", "service": "billing"}),
        ):
            started = time.monotonic()
            answer = await ask(ws, f"{target}{index}", method="GET", **fields)
            timings[target].append(time.monotonic() - started)
            assert answer["status"] == 200, answer
    medians = {target: sorted(times)[len(times) // 2] * 1000 for target, times in timings.items()}
    print(f"gateway round trip, median of 20: local {medians['local']:.1f} ms, upstream {medians['upstream']:.1f} ms")
    await ws.close()


def test_sockjs_json_requests_are_answered_across_instances(service):
    """SockJS (xhr transports alternating A and B): a `request` sent on B is answered on A's poll, as the user."""
    mine = service.create_request("ada", "Over SockJS")
    with UserSession(service.a, "ada", PASSWORD) as session:
        session.login()
        sockjs = RawSockJs(session.cookie_header())
    assert sockjs.poll(service.a).text == "o\n"
    (welcome,) = sockjs.messages(service.b, 1)
    assert welcome["type"] == "welcome"
    frame_text = json.dumps({"type": "request", "ref": "s1", "method": "GET", "path": f"/api/v1/requests/{mine}/"})
    assert sockjs.send(service.b, frame_text).status_code == 204
    (answer,) = sockjs.messages(service.a, 1)
    assert answer["type"] == "response" and answer["ref"] == "s1" and answer["status"] == 200
    assert answer["body"]["title"] == "Over SockJS"
    sockjs.client.close()


# --- STOMP -------------------------------------------------------------------------------------


def stomp_py(instance, username: str) -> tuple[stomp.WSStompConnection, Collector]:
    """Return a connected stock stomp.py client of the user's signed-in session on `instance`."""
    with UserSession(instance, username, PASSWORD) as session:
        session.login()
        header = {"Cookie": session.cookie_header()}
    host, port = instance.origin.removeprefix("http://").split(":")
    conn = stomp.WSStompConnection([(host, int(port))], ws_path=STOMP_PATH, header=header, reconnect_attempts_max=1)
    collector = Collector()
    conn.set_listener("collector", collector)
    conn.connect(wait=True, headers={"accept-version": "1.2"})
    return conn, collector


def test_stomp_py_sends_requests_and_gets_replies_on_its_subscription(service):
    """stomp.py: SEND /app/request to this service and to the upstream; MESSAGEs on /user/queue/replies carry
    status, correlation-id and the JSON body; a publish without the permission is 403 as over HTTP."""
    mine = service.create_request("ada", "Over STOMP")
    conn, got = stomp_py(service.b, "ada")
    try:
        conn.subscribe("/user/queue/replies", "replies", headers={"receipt": "sub"})
        assert got.next()[:2] == ("RECEIPT", {"receipt-id": "sub"})
        request = {"method": "GET", "path": f"/api/v1/requests/{mine}/", "correlation-id": "c-local"}
        conn.send("/app/request", "", content_type="application/json", headers=request)
        echo = {"method": "POST", "path": "/echo/x", "service": "billing", "correlation-id": "c-up"}
        conn.send("/app/request", json.dumps({"n": 1}), content_type="application/json", headers=echo)
        publish = {"method": "POST", "path": "/api/v1/events/", "correlation-id": "c-403"}
        conn.send("/app/request", json.dumps({"request": mine, "status": "failed"}), headers=publish)
        replies = {headers["correlation-id"]: (headers, body) for headers, body in got.messages(3)}
        local_headers, local_body = replies["c-local"]
        assert local_headers["status"] == "200" and local_body["title"] == "Over STOMP"
        assert local_headers["destination"] == "/user/queue/replies" and local_headers["subscription"] == "replies"
        assert local_headers["content-type"] == "application/json"
        up_headers, up_body = replies["c-up"]
        assert up_headers["status"] == "200" and up_body["claims"]["sub"] == "ada" and up_body["body"] == {"n": 1}
        assert replies["c-403"][0]["status"] == "403"
    finally:
        conn.disconnect()


async def test_stomp_send_without_a_replies_subscription_is_an_error_then_close(service):
    """A SEND to /app/request with no subscription to /user/queue/replies: ERROR naming it, then close."""
    with UserSession(service.a, "ada", PASSWORD) as session:
        session.login()
        ws = await connect_ws(service.a, STOMP_PATH, headers={"Cookie": session.cookie_header()})
    client = RawStomp(ws)
    await ws.send(CONNECT)
    assert (await client.next()).command == "CONNECTED"
    await ws.send(frame("SEND", {"destination": "/app/request", "method": "GET", "path": "/api/v1/requests/"}))
    message, code = await client.error_then_close()
    assert "/user/queue/replies" in message and code == 1008
