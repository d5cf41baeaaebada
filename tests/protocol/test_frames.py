"""The wire format: parsing client frames and building server frames."""

import json
import uuid

import pytest

from notifications.errors import BadFrame, UnknownFrameType
from notifications.protocol import frames
from notifications.protocol.cursors import Cursor


def test_resume_carries_a_decoded_cursor():
    """`resume` yields the cursor position and keeps the ref."""
    frame = frames.parse_client_frame(json.dumps({"type": "resume", "cursor": Cursor(1, 2).encode(), "ref": "r"}))
    assert frame.type == "resume" and frame.fields["cursor"] == Cursor(1, 2) and frame.ref == "r"


def test_ack_needs_an_event_id():
    """`ack` with a UUID is accepted; anything else is a bad field."""
    event_id = uuid.uuid4()
    assert frames.parse_client_frame(json.dumps({"type": "ack", "id": str(event_id)})).fields["id"] == event_id
    with pytest.raises(BadFrame):
        frames.parse_client_frame('{"type": "ack", "id": "nope"}')


def test_unknown_type_keeps_the_ref():
    """An unknown type raises UnknownFrameType, carrying the frame's ref for the error frame."""
    with pytest.raises(UnknownFrameType) as caught:
        frames.parse_client_frame('{"type": "dance", "ref": "x1"}')
    assert frames.ref_of(caught.value) == "x1"


def test_event_frame_is_valid_json_with_the_connection_cursor():
    """An event frame is built from a payload encoded once and a per-connection cursor."""
    encoded = frames.encode_payload({"id": "e1", "kind": "announcement", "title": "Hi <b>", "body": "é"})
    frame = json.loads(frames.event(encoded, Cursor(3, 4)))
    assert frame == {
        "type": "event",
        "cursor": Cursor(3, 4).encode(),
        "id": "e1",
        "kind": "announcement",
        "title": "Hi <b>",
        "body": "é",
    }


def test_error_frame_always_has_a_ref_field():
    """`error` frames carry code, message and ref (null when the frame had none)."""
    assert json.loads(frames.error("bad_request", "nope", None)) == {
        "type": "error",
        "code": "bad_request",
        "message": "nope",
        "ref": None,
    }


@pytest.mark.parametrize(
    "text",
    [
        '{"type": "ping", "ts": "\\ud800"}',
        '{"type": "\\udfff"}',
        '{"type": "ping", "ref": "\\ud83d"}',
        '{"type": "ping", "ts": "a\\u0000b"}',
        '{"type": "ping", "ts": NaN}',
        '{"type": "ping", "ts": Infinity}',
        '{"type": "ping", "ts": 1e400}',
        '{"type": "ping", "ts": ' + "[" * 1000 + "]" * 1000 + "}",
        "[" * 100_000,
    ],
)
def test_values_no_client_could_take_back_are_refused_as_bad_requests(text):
    """Lone surrogates, NUL, non-finite numbers and deep nesting are a BadFrame, never a frame to echo."""
    with pytest.raises(BadFrame):
        frames.parse_client_frame(text)


def test_a_pong_is_always_valid_json():
    """Whatever ping was accepted, its pong parses back as strict JSON with the same ts."""
    frame = frames.parse_client_frame('{"type": "ping", "ts": {"n": [1.5, "\\ud83d\\ude00"]}}')
    answer = frames.pong(frame.fields["ts"], frame.ref)
    assert json.loads(answer)["ts"] == {"n": [1.5, "\U0001f600"]}
    answer.encode("utf-8")


def test_resume_may_ask_to_coalesce():
    """`coalesce` is false unless the client sends true; anything but a boolean is refused."""
    cursor = Cursor(1, 2).encode()
    assert frames.parse_client_frame(json.dumps({"type": "resume", "cursor": cursor})).fields["coalesce"] is False
    asked = frames.parse_client_frame(json.dumps({"type": "resume", "cursor": cursor, "coalesce": True}))
    assert asked.fields["coalesce"] is True
    with pytest.raises(BadFrame, match="'coalesce' must be true or false"):
        frames.parse_client_frame(json.dumps({"type": "resume", "cursor": cursor, "coalesce": 1}))


def test_replayed_says_how_many_events_a_coalesced_resume_skipped():
    """`coalesced` appears only on the answer to a coalesced resume."""
    assert "coalesced" not in json.loads(frames.replayed(3, Cursor(0, 5), None))
    assert json.loads(frames.replayed(3, Cursor(0, 5), "r", coalesced=97)) == {
        "type": "replayed",
        "count": 3,
        "cursor": Cursor(0, 5).encode(),
        "coalesced": 97,
        "ref": "r",
    }
