"""Hypothesis-generated client frames: the parser refuses with FrameError only, and sockets survive them all.

The last test sends them to a real daphne instance: text with lone
surrogates (as JSON escapes: valid UTF-8 that no JSON string can hold), NUL,
huge and non-finite numbers, deep nesting and random types in every field.
"""

import json
import time

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from websockets.sync.client import connect

from notifications.errors import FrameError
from notifications.protocol.frames import parse_client_frame
from tests.integration.harness import Deployment, ws_url_of
from tests.integration.robust_service import start
from tests.sockets import make_user, receive_until, signed_in_socket

KNOWN_TYPES = ("resume", "ack", "ping", "request")
ANSWERS = {"error", "pong", "replayed", "reset", "response"}

# Every code point, lone surrogates too (json.dumps writes them as \\udxxx escapes).
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=20)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | any_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
frame_objects = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from([*KNOWN_TYPES, "event", "", "RESUME"]) | st.text(max_size=60) | json_values,
        "ref": st.text(max_size=80) | json_values,
        "cursor": st.text(alphabet="0123456789abcdefABCDEF-_=", max_size=30) | json_values,
        "id": st.uuids().map(str) | json_values,
        "ts": json_values,
        # The gateway's `request` (PROTOCOL 5.1): mostly near-valid, so the checks past the type are reached.
        "method": st.sampled_from(["GET", "POST", "DELETE", "get", "BREW"]) | json_values,
        "path": st.sampled_from(["/api/v1/requests/", "/api/v1/nope/", "/admin/", "/api/v1/../x"]) | any_text,
        "service": st.sampled_from(["nowhere", "bad name"]) | json_values,
        "headers": st.dictionaries(st.sampled_from(["Idempotency-Key", "Cookie", "accept-language"]), json_values),
        "body": json_values,
    },
)
frame_texts = st.one_of(
    st.text(max_size=200),
    json_values.map(json.dumps),
    frame_objects.map(json.dumps),
    frame_objects.map(lambda frame: json.dumps(frame)[:-1]),  # cut short
)
huge_numbers = st.sampled_from(["1e400", "-1e400", "NaN", "Infinity", "-Infinity", "9" * 5000, "1" + "0" * 400])
nested = st.integers(min_value=30, max_value=3000).map(lambda depth: "[" * depth + "]" * depth)
hostile_texts = st.one_of(
    frame_texts,
    st.tuples(st.sampled_from(["ts", "ref", "type", "cursor", "id"]), huge_numbers | nested).map(
        lambda field: f'{{"type": "ping", "{field[0]}": {field[1]}}}'
    ),
    st.sampled_from(["ts", "ref", "type", "cursor", "id"]).map(lambda name: f'{{"type": "ping", "{name}": "\\ud800"}}'),
)


@settings(max_examples=400, deadline=None, database=None)
@given(text=frame_texts)
@example(text="[" * 100_000)
@example(text='{"type": "resume", "cursor": "' + "0" * 24 + '"}')
@example(text='{"type": "ack", "id": 7}')
@example(text='{"type": "ping", "ref": "' + "r" * 65 + '"}')
@example(text='{"type": "request", "method": "GET", "path": "/api/v1/requests/", "headers": {"Cookie": "x"}}')
def test_the_parser_refuses_anything_malformed_with_a_frame_error_only(text):
    """parse_client_frame returns a checked frame of a known type or raises FrameError, never anything else."""
    try:
        frame = parse_client_frame(text)
    except FrameError as refused:
        assert refused.default_code in {"bad_request", "unknown_type", "forbidden"}
        return
    assert frame.type in KNOWN_TYPES
    assert frame.ref is None or (isinstance(frame.ref, str) and len(frame.ref) <= 64)


@pytest.fixture
async def fuzzed_socket(hub, settings):
    """A signed-in socket, past its resume, with rate limits out of the fuzzer's way."""
    settings.NOTIFY_FRAMES_PER_SECOND = 100_000
    settings.NOTIFY_FRAME_BURST = 100_000
    user = await make_user("fuzz")
    communicator, welcome = await signed_in_socket(user, resume=None)
    await communicator.send_json_to({"type": "resume", "cursor": welcome["cursor"]})
    await receive_until(communicator, "replayed")
    yield communicator
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=frame_texts)
async def test_every_fuzzed_frame_gets_one_answer_and_the_socket_stays_open(fuzzed_socket, text):
    """Whatever a client sends (under the size limit), it gets an error or a valid answer, and the socket lives on."""
    await fuzzed_socket.send_input({"type": "websocket.receive", "text": text})  # send_to refuses ""
    answer = await fuzzed_socket.receive_json_from(timeout=5)
    assert answer["type"] in ANSWERS, answer
    await fuzzed_socket.send_json_to({"type": "ping", "ts": 1})
    assert (await fuzzed_socket.receive_json_from(timeout=5))["type"] == "pong", "the socket did not survive"


# Frames each socket of the real-daphne fuzz takes before a fresh one: under the default burst of 40.
FRAMES_PER_SOCKET = 15


@pytest.fixture(scope="module")
def fuzzed_instance(tmp_path_factory, amqp_url, static_files):
    """A real daphne instance on the broker and a signed-in cookie, for the fuzz on real sockets."""
    deployment = Deployment(tmp_path_factory.mktemp("frame-fuzz"), amqp_url=amqp_url)
    try:
        service = start(deployment, ["fuzz"])
        yield service, service.session("fuzz").cookie_header()
    finally:
        deployment.close()


class RealSocket:
    """A signed-in socket on the instance, replaced by a fresh one every FRAMES_PER_SOCKET frames."""

    def __init__(self, instance, cookie: str):
        self.instance, self.cookie = instance, cookie
        self.ws, self.sent, self.opened = None, 0, 0

    def get(self):
        if self.ws is None or self.sent >= FRAMES_PER_SOCKET:
            if self.ws is not None:
                self.ws.close()
            self.ws = connect(
                ws_url_of(self.instance), origin=self.instance.origin, additional_headers={"Cookie": self.cookie}
            )
            self.sent, self.opened = 0, self.opened + 1
            assert json.loads(self.ws.recv(timeout=5))["type"] == "welcome", "a fresh client was not served"
        self.sent += 2
        return self.ws


@pytest.fixture(scope="module")
def real_socket(fuzzed_instance):
    service, cookie = fuzzed_instance
    socket = RealSocket(service.a, cookie)
    yield socket
    if socket.ws is not None:
        socket.ws.close()


def answer_to(ws, text: str) -> dict:
    ws.send(text)
    return json.loads(ws.recv(timeout=5))


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(text=hostile_texts)
@example(text='{"type": "ping", "ts": "\\ud800"}')
@example(text='{"type": "\\udfff", "ref": "\\ud800"}')
@example(text='{"type": "ping", "ts": ' + "[" * 1000 + "]" * 1000 + "}")
def test_real_daphne_answers_every_fuzzed_frame_and_never_closes(real_socket, text):
    """On real daphne any frame under the size limit gets one valid answer (bad ones an `error`), never a close."""
    started = time.monotonic()
    ws = real_socket.get()
    answer = answer_to(ws, text)
    assert answer["type"] in ANSWERS, answer
    if answer["type"] == "pong":
        json.dumps(answer, allow_nan=False).encode("utf-8")  # strict JSON, encodable
    assert answer_to(ws, '{"type": "ping", "ts": 1}') == {"type": "pong", "ts": 1}, "the socket did not survive"
    assert time.monotonic() - started < 10
