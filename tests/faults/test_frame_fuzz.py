"""Hypothesis-generated client frames: the parser refuses with FrameError only, and sockets survive them all."""

import json

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from notifications.errors import FrameError
from notifications.protocol.frames import parse_client_frame
from tests.sockets import make_user, receive_until, signed_in_socket

KNOWN_TYPES = ("resume", "ack", "ping")
ANSWERS = {"error", "pong", "replayed", "reset"}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
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
    },
)
frame_texts = st.one_of(
    st.text(max_size=200),
    json_values.map(json.dumps),
    frame_objects.map(json.dumps),
    frame_objects.map(lambda frame: json.dumps(frame)[:-1]),  # cut short
)


@settings(max_examples=400, deadline=None, database=None)
@given(text=frame_texts)
@example(text="[" * 100_000)
@example(text='{"type": "resume", "cursor": "' + "0" * 24 + '"}')
@example(text='{"type": "ack", "id": 7}')
@example(text='{"type": "ping", "ref": "' + "r" * 65 + '"}')
def test_the_parser_refuses_anything_malformed_with_a_frame_error_only(text):
    """parse_client_frame returns a checked frame of a known type or raises FrameError, never anything else."""
    try:
        frame = parse_client_frame(text)
    except FrameError as refused:
        assert refused.default_code in {"bad_request", "unknown_type"}
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
