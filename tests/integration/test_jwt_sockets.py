"""JWT sockets (PROTOCOL section 5.4) on two real daphne instances on RabbitMQ, for every protocol.

The instances verify RS256 tokens with a public key file and no leeway.
Sockets authenticate with `?token=` (or `Authorization: Bearer`) and send
no Origin and no cookie, as scripts do; events are published over REST on
the other instance, so every live event crosses the broker.
"""

import asyncio
import base64
import hashlib
import hmac
import json
import queue
import secrets
import time

import httpx
import jwt
import paho.mqtt.client as paho
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from paho.mqtt.enums import CallbackAPIVersion

from .harness import Deployment, InstanceError, TokenClient, connect_ws, expect_close, recv_json, recv_until
from .harness.raw_stomp import RawStomp, server_frames, stomp_frame
from .harness.sockets import STOMP_CONNECT, Credentials, SockJsStompClient
from .test_fanout import create_request

PASSWORD = "correct-horse-battery"
WAIT_SECS = 10.0
SHORT_EXP_SECS = 3
MQTT_CONNECT = bytes((0x10, 12, 0, 4)) + b"MQTT" + bytes((4, 2, 0, 0, 0, 0))
MQTT_CONNACK_ACCEPTED = bytes((0x20, 2, 0, 0))
MQTT_CONNACK_NOT_AUTHORIZED = bytes((0x20, 2, 0, 5))
PAHO_NOT_AUTHORIZED = 135  # paho 2 reports CONNACK return code 5 as the MQTT 5 reason code "Not authorized"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Service:
    """Instances A and B verifying RS256 tokens, users ada and bob, a publish token, and a token mint."""

    def __init__(self, deployment: Deployment, key_dir):
        self.deployment = deployment
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_pem = self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        key_file = key_dir / "jwt-public.pem"
        key_file.write_bytes(self.public_pem)
        env = {"NOTIFY_JWT_PUBLIC_KEY_FILE": str(key_file), "NOTIFY_JWT_LEEWAY_SECS": "0"}
        self.a = deployment.instance("A", env=env)
        self.b = deployment.instance("B", env=env)
        deployment.create_user("ada", PASSWORD)
        deployment.create_user("bob", PASSWORD)
        self.publish_token = deployment.create_service_token("worker", "publish", "broadcast")

    def mint(self, sub: str = "ada", exp_in: float = 60, **claims) -> str:
        """Return an RS256 token for `sub` expiring in `exp_in` seconds."""
        return jwt.encode({"sub": sub, "exp": int(time.time() + exp_in), **claims}, self.private_key, "RS256")

    def create_request_on_b(self, username: str, title: str) -> str:
        with TokenClient(self.b, self.publish_token) as publisher:
            return create_request(publisher, username, title)


@pytest.fixture(scope="module")
def service(tmp_path_factory, amqp_url, static_files):
    deployment = Deployment(tmp_path_factory.mktemp("jwt"), amqp_url=amqp_url)
    try:
        yield Service(deployment, tmp_path_factory.mktemp("jwt-keys"))
    except BaseException:
        print(deployment.log_report())
        raise
    finally:
        deployment.close()


def bad_tokens(service: Service) -> dict[str, str]:
    """Return tokens that must be refused, by what is wrong with them."""
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    payload = {"sub": "ada", "exp": int(time.time()) + 60}
    unsigned = f"{_b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{_b64(json.dumps(payload).encode())}."
    hs_input = f"{_b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{_b64(json.dumps(payload).encode())}"
    hs_signature = hmac.new(service.public_pem, hs_input.encode(), hashlib.sha256).digest()
    return {
        "bad signature": jwt.encode(payload, other_key, "RS256"),
        "no exp": jwt.encode({"sub": "ada"}, service.private_key, "RS256"),
        "expired": service.mint(exp_in=-2),
        "unknown user": service.mint("nobody"),
        "alg none": unsigned,
        "HS256 keyed by the public key": f"{hs_input}.{_b64(hs_signature)}",
    }


# --- JSON --------------------------------------------------------------------------------------


async def json_socket(service: Service, token: str, instance=None, *, bearer: bool = False):
    """Open a JSON socket on A (or `instance`) with the token, no Origin, no cookie; return it after `welcome`."""
    kwargs = {"headers": {"Authorization": f"Bearer {token}"}} if bearer else {"query": {"token": token}}
    ws = await connect_ws(instance or service.a, origin=None, **kwargs)
    welcome = await recv_json(ws)
    assert welcome["type"] == "welcome", welcome
    return ws, welcome


async def test_json_with_a_token_receives_events_published_on_the_other_instance(service):
    """`?token=` and `Authorization: Bearer` each open the JSON socket as `sub`; an event posted on B arrives on A."""
    ws, welcome = await json_socket(service, service.mint())
    assert welcome["user"]["username"] == "ada"
    await ws.send(json.dumps({"type": "resume", "cursor": welcome["cursor"]}))
    await recv_until(ws, lambda frame: frame["type"] == "replayed")
    request_id = await asyncio.to_thread(service.create_request_on_b, "ada", "By token")
    event = await recv_until(ws, lambda frame: frame["type"] == "event")
    assert event["request"]["id"] == request_id and event["request"]["title"] == "By token"
    await ws.close()
    bearer, welcome = await json_socket(service, service.mint("bob"), service.b, bearer=True)
    assert welcome["user"]["username"] == "bob"
    await bearer.close()


async def test_json_closes_with_4000_at_exp(service):
    """A token expiring in 3 s: the socket is open, then closed with 4000 at `exp`."""
    ws, _ = await json_socket(service, service.mint(exp_in=SHORT_EXP_SECS))
    started = time.monotonic()
    assert await expect_close(ws, timeout=SHORT_EXP_SECS + WAIT_SECS) == 4000
    assert time.monotonic() - started > 1.0


async def test_json_refresh_extends_the_socket_past_the_first_exp(service):
    """`refresh` with a later token answers `refreshed` with its exp; the first exp passes; the new one closes 4000."""
    ws, _ = await json_socket(service, service.mint(exp_in=SHORT_EXP_SECS))
    later = int(time.time()) + 2 * SHORT_EXP_SECS + 1
    renewed = jwt.encode({"sub": "ada", "exp": later}, service.private_key, "RS256")
    await ws.send(json.dumps({"type": "refresh", "token": renewed, "ref": "r1"}))
    assert await recv_json(ws) == {"type": "refreshed", "exp": later, "ref": "r1"}
    first_exp_passed = time.time() + SHORT_EXP_SECS + 0.5
    while time.time() < first_exp_passed:
        await ws.send(json.dumps({"type": "ping", "ts": 1}))
        assert (await recv_json(ws))["type"] == "pong"
        await asyncio.sleep(0.5)  # pacing the probes, not waiting for an event
    assert await expect_close(ws, timeout=SHORT_EXP_SECS + WAIT_SECS) == 4000
    assert time.time() >= later - 1


@pytest.mark.parametrize("what", ["another user", "bad signature", "alg none"])
async def test_json_a_refresh_for_another_user_or_with_a_bad_token_closes_with_4401(service, what):
    """A refresh naming bob on ada's socket, or with a bad token, closes with 4401."""
    ws, _ = await json_socket(service, service.mint())
    token = service.mint("bob", exp_in=600) if what == "another user" else bad_tokens(service)[what]
    await ws.send(json.dumps({"type": "refresh", "token": token}))
    assert await expect_close(ws) == 4401


async def test_json_bad_tokens_close_with_4401(service):
    """A bad signature, no exp, an expired token, an unknown user, `alg: none`, HS256 against the RSA key: 4401."""
    for what, token in bad_tokens(service).items():
        ws = await connect_ws(service.a, origin=None, query={"token": token})
        assert await expect_close(ws) == 4401, what


# --- STOMP -------------------------------------------------------------------------------------


async def open_stomp(service: Service, token: str) -> RawStomp:
    """Open a STOMP socket on A with `?token=`, no Origin, no cookie, and send CONNECT."""
    ws = await connect_ws(service.a, "/ws/stomp/", origin=None, query={"token": token}, subprotocols=["v12.stomp"])
    await ws.send(stomp_frame("CONNECT", {"accept-version": "1.2", "heart-beat": "0,0"}))
    return RawStomp(ws)


async def test_stomp_with_a_token_receives_events_and_ends_with_error_then_4000_at_exp(service):
    """STOMP with `?token=`: CONNECTED as `sub`, a MESSAGE for an event posted on B; at exp ERROR then 4000."""
    client = await open_stomp(service, service.mint(exp_in=SHORT_EXP_SECS + 2))
    connected = await client.next()
    assert (connected.command, connected.get("user-name")) == ("CONNECTED", "ada")
    await client.ws.send(stomp_frame("SUBSCRIBE", {"id": "s", "destination": "/user/queue/requests", "receipt": "r"}))
    assert (await client.next()).command == "RECEIPT"
    request_id = await asyncio.to_thread(service.create_request_on_b, "ada", "Over STOMP")
    message = await client.next()
    assert message.command == "MESSAGE" and json.loads(message.body)["request"]["id"] == request_id
    assert await client.error_then_close(SHORT_EXP_SECS + WAIT_SECS) == ("session ended", 4000)


async def test_stomp_bad_tokens_get_error_then_4401(service):
    """Each bad token: ERROR `not authenticated`, then close 4401."""
    for what, token in bad_tokens(service).items():
        client = await open_stomp(service, token)
        assert await client.error_then_close() == ("not authenticated", 4401), what


# --- MQTT --------------------------------------------------------------------------------------


def paho_client(service: Service, token: str) -> tuple[paho.Client, queue.Queue, queue.Queue]:
    """Return a Paho client with `?token=` in its WebSocket path and no Origin, its CONNACK and message queues."""
    client = paho.Client(CallbackAPIVersion.VERSION2, transport="websockets", protocol=paho.MQTTv311)
    client.ws_set_options(path="/mqtt?" + httpx.QueryParams({"token": token}).__str__())
    connacks: queue.Queue = queue.Queue()
    messages: queue.Queue = queue.Queue()
    client.on_connect = lambda c, u, flags, rc, p: connacks.put(rc.value)
    client.on_message = lambda c, u, message: messages.put(message)
    client.connect("127.0.0.1", service.a.port, keepalive=30)
    client.loop_start()
    return client, connacks, messages


def test_mqtt_paho_with_a_token_in_the_path_receives_events_published_on_the_other_instance(service):
    """Paho with `?token=` in the path: CONNACK 0, then an event posted on B on its request topic."""
    client, connacks, messages = paho_client(service, service.mint())
    try:
        assert connacks.get(timeout=WAIT_SECS) == 0
        client.subscribe("notify/me/requests/+", 1)
        subscribed = time.monotonic()
        request_id = service.create_request_on_b("ada", "Over MQTT")
        message = messages.get(timeout=WAIT_SECS)
        assert message.topic == f"notify/me/requests/{request_id}", time.monotonic() - subscribed
        assert json.loads(message.payload)["request"]["title"] == "Over MQTT"
    finally:
        client.disconnect()
        client.loop_stop()


def test_mqtt_paho_with_a_bad_token_gets_connack_5(service):
    """Paho with a bad token in the path: CONNACK 5 (not authorized)."""
    for what, token in bad_tokens(service).items():
        client, connacks, _ = paho_client(service, token)
        try:
            assert connacks.get(timeout=WAIT_SECS) == PAHO_NOT_AUTHORIZED, what
        finally:
            client.loop_stop()


async def test_mqtt_closes_with_4000_at_exp(service):
    """A raw MQTT socket with a 3 s token: CONNACK 0, then the socket closes with 4000 at exp."""
    token = service.mint(exp_in=SHORT_EXP_SECS)
    async with connect_ws(service.a, "/mqtt", subprotocols=["mqtt"], origin=None, query={"token": token}) as ws:
        await ws.send(MQTT_CONNECT)
        assert await ws.recv() == MQTT_CONNACK_ACCEPTED
        assert await expect_close(ws, timeout=SHORT_EXP_SECS + WAIT_SECS) == 4000


# --- SSE ---------------------------------------------------------------------------------------


async def sse_messages(response: httpx.Response):
    """Yield each dispatched message of an event stream as {"event", "data"}, skipping comments."""
    fields: dict = {}
    async for line in response.aiter_lines():
        if line == "":
            if "data" in fields:
                yield fields
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = json.loads(value) if name == "data" else value


async def test_sse_with_a_token_receives_events_and_ends_with_session_ended_at_exp(service):
    """SSE with `?token=` on A: welcome, an event posted on B, then `event: session-ended` at exp."""
    params = {"token": service.mint(exp_in=SHORT_EXP_SECS + 2)}
    timeout = httpx.Timeout(WAIT_SECS, read=SHORT_EXP_SECS + WAIT_SECS)
    async with httpx.AsyncClient(base_url=service.a.url, trust_env=False, timeout=timeout) as client:
        async with client.stream("GET", "/api/v1/stream/", params=params) as response:
            assert response.status_code == 200
            messages = sse_messages(response)
            welcome = await asyncio.wait_for(anext(messages), WAIT_SECS)
            assert welcome["event"] == "welcome" and welcome["data"]["user"]["username"] == "ada"
            request_id = await asyncio.to_thread(service.create_request_on_b, "ada", "Over SSE")
            event = await asyncio.wait_for(anext(messages), WAIT_SECS)
            assert event["event"] == "request.status" and event["data"]["request"]["id"] == request_id
            ended = await asyncio.wait_for(anext(messages), SHORT_EXP_SECS + WAIT_SECS)
            assert ended["event"] == "session-ended"


async def test_sse_bearer_header_authenticates_and_bad_tokens_get_401(service):
    """`Authorization: Bearer` opens the stream; each bad token is answered 401 with a JSON detail."""
    async with httpx.AsyncClient(base_url=service.a.url, trust_env=False, timeout=WAIT_SECS) as client:
        headers = {"Authorization": f"Bearer {service.mint('bob')}"}
        async with client.stream("GET", "/api/v1/stream/", headers=headers) as response:
            assert response.status_code == 200
            welcome = await asyncio.wait_for(anext(sse_messages(response)), WAIT_SECS)
            assert welcome["data"]["user"]["username"] == "bob"
        for what, token in bad_tokens(service).items():
            answer = await client.get("/api/v1/stream/", params={"token": token})
            assert answer.status_code == 401 and "detail" in answer.json(), what


# --- SockJS ------------------------------------------------------------------------------------


class XhrSockJs:
    """One SockJS JSON session over xhr polling with `?token=` on every request, as sockjs-client sends it."""

    def __init__(self, token: str):
        self.path = f"/sockjs/notifications/000/{secrets.token_hex(8)}"
        self.query = "?" + str(httpx.QueryParams({"token": token}))
        self.client = httpx.Client(timeout=WAIT_SECS, trust_env=False)

    def poll(self, instance) -> str:
        return self.client.post(f"{instance.url}{self.path}/xhr{self.query}").text

    def send(self, instance, message: dict) -> int:
        body = json.dumps([json.dumps(message)])
        return self.client.post(f"{instance.url}{self.path}/xhr_send{self.query}", content=body).status_code

    def next_frame(self, instance, timeout: float = WAIT_SECS) -> str:
        """Poll until something other than a heartbeat comes; return it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frame = self.poll(instance).rstrip("\n")
            if frame != "h":
                return frame
        raise AssertionError(f"nothing but heartbeats for {timeout}s")


def test_sockjs_json_with_a_token_admits_requests_on_both_instances_and_ends_with_4000_at_exp(service):
    """SockJS (xhr) with `?token=`: welcome, pong via either instance, refresh, c[4000] at its exp; bad: c[4401]."""
    session = XhrSockJs(service.mint(exp_in=SHORT_EXP_SECS + 2))
    assert session.poll(service.a) == "o\n"
    welcome = json.loads(json.loads(session.next_frame(service.b)[1:])[0])
    assert welcome["type"] == "welcome" and welcome["user"]["username"] == "ada"
    assert session.send(service.b, {"type": "ping", "ts": 7}) == 204
    pong = json.loads(json.loads(session.next_frame(service.a)[1:])[0])
    assert pong == {"type": "pong", "ts": 7}
    later = int(time.time()) + SHORT_EXP_SECS + 4
    renewed = jwt.encode({"sub": "ada", "exp": later}, service.private_key, "RS256")
    assert session.send(service.a, {"type": "refresh", "token": renewed}) == 204
    assert json.loads(json.loads(session.next_frame(service.b)[1:])[0]) == {"type": "refreshed", "exp": later}
    assert session.next_frame(service.b, SHORT_EXP_SECS + WAIT_SECS) == 'c[4000,"session ended"]'
    assert time.time() >= later - 1
    for what, token in bad_tokens(service).items():
        refused = XhrSockJs(token)
        assert refused.poll(service.a) == "o\n", what
        assert refused.next_frame(service.b) == 'c[4401,"not authenticated"]', what


# --- the start-up check ------------------------------------------------------------------------


def test_daphne_refuses_to_start_with_both_key_settings(service):
    """With NOTIFY_JWT_PUBLIC_KEY_FILE and NOTIFY_JWT_SECRET both set, daphne exits before serving, naming the error."""
    env = {"NOTIFY_JWT_PUBLIC_KEY_FILE": "/nonexistent.pem", "NOTIFY_JWT_SECRET": "s" * 40}
    with pytest.raises(InstanceError) as refused:
        service.deployment.instance("C", env=env)
    assert "exited" in str(refused.value) and "notifications.E001" in str(refused.value)


# --- Authorization: Bearer on STOMP and MQTT; SockJS STOMP -------------------------------------


async def test_stomp_and_mqtt_take_the_token_in_an_authorization_bearer_header(service):
    """`Authorization: Bearer` (no Origin, no cookie): STOMP CONNECTED as `sub`, MQTT CONNACK 0; a bad one refused."""
    for token, accepted in ((service.mint("bob"), True), (bad_tokens(service)["no exp"], False)):
        headers = {"Authorization": f"Bearer {token}"}
        ws = await connect_ws(service.b, "/ws/stomp/", origin=None, headers=headers, subprotocols=["v12.stomp"])
        await ws.send(STOMP_CONNECT)
        client = RawStomp(ws)
        if accepted:
            connected = await client.next()
            assert (connected.command, connected.get("user-name")) == ("CONNECTED", "bob")
            await ws.close()
        else:
            assert await client.error_then_close() == ("not authenticated", 4401)
        async with connect_ws(service.b, "/mqtt", origin=None, headers=headers, subprotocols=["mqtt"]) as ws:
            await ws.send(MQTT_CONNECT)
            assert await ws.recv() == (MQTT_CONNACK_ACCEPTED if accepted else MQTT_CONNACK_NOT_AUTHORIZED)


async def test_sockjs_stomp_with_a_token_ends_with_error_then_4000_at_exp_and_bad_tokens_get_error_then_4401(service):
    """SockJS STOMP (websocket transport) with `?token=`: CONNECTED, at exp ERROR then c[4000]; bad: ERROR, c[4401]."""
    client = await SockJsStompClient(service.a, Credentials(token=service.mint(exp_in=SHORT_EXP_SECS))).open()
    (error,) = server_frames((await client.next_messages(SHORT_EXP_SECS + WAIT_SECS))[0])
    assert (error.command, error.get("message")) == ("ERROR", "session ended")
    assert await client.ws.recv() == 'c[4000,"session ended"]'
    for what, token in bad_tokens(service).items():
        refused = SockJsStompClient(service.b, Credentials(token=token))
        refused.ws = await connect_ws(service.b, refused.path, origin=None, query={"token": token})
        assert await refused.ws.recv() == "o", what
        await refused.send_messages(STOMP_CONNECT)
        (error,) = server_frames((await refused.next_messages())[0])
        assert (error.command, error.get("message")) == ("ERROR", "not authenticated"), what
        assert await refused.ws.recv() == 'c[4401,"not authenticated"]', what
        assert await expect_close(refused.ws) == 4401, what
