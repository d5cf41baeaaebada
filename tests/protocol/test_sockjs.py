"""SockJS 0.3.3 framing: the server's frames, the escaping of risky characters, client payloads."""

import json

import pytest

from notifications.protocol import sockjs


def test_frames_are_open_heartbeat_array_and_close():
    """`o`, `h`, `a[...]` with each message a JSON string, `c[code,"reason"]`."""
    assert sockjs.OPEN == "o" and sockjs.HEARTBEAT == "h"
    assert sockjs.messages(['{"type":"pong"}', "x"]) == 'a["{\\"type\\":\\"pong\\"}","x"]'
    assert sockjs.close(3000, "Go away!") == 'c[3000,"Go away!"]'


@pytest.mark.parametrize(
    "char", ["\x00", "\x1f", "\x7f", "\u00ad", "\u0600", "\u200c", "\u2028", "\u2060", "\ufeff", "\ufff0", "\ud800"]
)
def test_characters_browsers_mangle_are_escaped(char):
    """Controls, invisible formatting characters, surrogates and noncharacters travel as \\uXXXX."""
    frame = sockjs.messages([f"a{char}b"])
    assert char not in frame
    assert f"\\u{ord(char):04x}" in frame


def test_other_unicode_travels_as_is_and_round_trips():
    """Plain non-ASCII text is not escaped; every escaped frame decodes back to the same message."""
    message = "héllo ✓ \u2028 ünïcode"
    frame = sockjs.messages([message])
    assert "é" in frame and "✓" in frame
    assert json.loads(frame[1:]) == [message]


def test_a_payload_is_a_json_array_of_strings():
    """`["a","b"]` is two messages; anything else is refused with SockJS's own wording."""
    assert sockjs.parse_payload(b'["a","b"]') == ["a", "b"]
    assert sockjs.parse_payload('"one"', allow_string=True) == ["one"]
    for body, message in [
        (b"", "Payload expected."),
        (b"[1,", "Broken JSON encoding."),
        (b"[1]", "Broken JSON encoding."),
        (b'{"a":"b"}', "Broken JSON encoding."),
        (b'"one"', "Broken JSON encoding."),
        (b"[NaN]", "Broken JSON encoding."),
        (b"\xff\xfe", "Broken JSON encoding."),
        (b"[" * 100_000, "Broken JSON encoding."),
    ]:
        with pytest.raises(sockjs.BadPayload) as refused:
            sockjs.parse_payload(body)
        assert str(refused.value) == message


def test_ids_are_short_and_plain():
    """Server and session ids: letters, digits, `-` and `_`, up to 64; never a dot or a slash."""
    assert sockjs.is_valid_id("abc_DEF-123")
    assert not any(sockjs.is_valid_id(v) for v in ("", "a.b", "a/b", "x" * 65, "é"))


def test_info_names_websocket_cookie_origins_and_entropy():
    """`info` says whether websocket is on, that no cookie is needed, any origin, and the entropy."""
    assert sockjs.info(websocket=True, entropy=7) == {
        "websocket": True,
        "cookie_needed": False,
        "origins": ["*:*"],
        "entropy": 7,
    }
