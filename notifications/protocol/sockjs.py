"""SockJS 0.3.3 framing (PROTOCOL section 4.2): the server's frames and the client's payloads. Pure: no I/O.

Server frames: `o` (open), `h` (heartbeat), `a[...]` (a JSON array of
messages, each a string) and `c[code,"reason"]` (close). The JSON of a frame
escapes the characters some browsers mangle or drop (controls, the invisible
formatting characters, surrogates and noncharacters), as SockJS 0.3.3
requires. A client payload (an `xhr_send` body, a websocket message) is a
JSON array of strings; the raw websocket also accepts one JSON string.
"""

import json
import re

OPEN = "o"
HEARTBEAT = "h"

# The ranges SockJS 0.3.3 escapes as \uXXXX in every frame it sends.
_ESCAPED = re.compile(
    "[\x00-\x1f\x7f-\x9f\xad\u0600-\u0604\u070f\u17b4\u17b5\u200c-\u200f\u2028-\u202f"
    "\u2060-\u206f\ufeff\ufff0-\uffff\ud800-\udfff]"
)

# A session or server id: SockJS allows anything but a dot; this service also keeps it short and plain.
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

# The close codes SockJS itself defines.
CLOSE_GO_AWAY = 3000
CLOSE_ANOTHER_CONNECTION = 2010
CLOSE_INTERRUPTED = 1002


class BadPayload(ValueError):
    """A client payload that is not a JSON array of strings; `message` is what SockJS answers (HTTP 500)."""


def _escape(match: re.Match) -> str:
    return f"\\u{ord(match.group()):04x}"


def dumps(value) -> str:
    """Return `value` as the JSON of a SockJS frame: compact, UTF-8 friendly, the risky characters escaped."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return _ESCAPED.sub(_escape, text)


def messages(items: list[str]) -> str:
    """Return the `a` frame carrying these messages, in order."""
    return "a" + dumps(list(items))


def close(code: int, reason: str) -> str:
    """Return the `c` frame: the session is closed with this code and reason."""
    return "c" + dumps([code, reason])


def is_valid_id(value: str) -> bool:
    """Return whether a server or session id segment of a SockJS URL is acceptable."""
    return _ID.fullmatch(value) is not None


def _no_constants(name: str):
    raise BadPayload("Broken JSON encoding.")


def parse_payload(body: bytes | str, *, allow_string: bool = False) -> list[str]:
    """Return the messages of a client payload, or raise BadPayload with SockJS's own wording."""
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            raise BadPayload("Broken JSON encoding.") from None
    if not body:
        raise BadPayload("Payload expected.")
    try:
        value = json.loads(body, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        raise BadPayload("Broken JSON encoding.") from None
    if allow_string and isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BadPayload("Broken JSON encoding.")
    return value


def info(*, websocket: bool, entropy: int) -> dict:
    """Return the body of `GET .../info`: cookies are not needed (no stickiness), any origin may ask."""
    return {"websocket": websocket, "cookie_needed": False, "origins": ["*:*"], "entropy": entropy}


# Event stream and streaming preludes (SockJS 0.3.3): the xhr_streaming prelude defeats browser buffering.
XHR_STREAMING_PRELUDE = "h" * 2048 + "\n"
EVENTSOURCE_PRELUDE = "\r\n"


def eventsource_data(frame: str) -> str:
    """Return a frame as one Server-Sent Events message."""
    return f"data: {frame}\r\n\r\n"
