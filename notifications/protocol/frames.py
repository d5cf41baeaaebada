"""Where a WebSocket frame is parsed and built: the wire format of PROTOCOL section 1.

Pure functions, no I/O. `parse_client_frame` is the only door for client
input: what it returns has been checked, and everything it refuses raises a
`FrameError` that the consumer turns into an `error` frame.
"""

import json
import uuid
from dataclasses import dataclass
from typing import Any

from notifications.errors import BadFrame, FrameError, UnknownFrameType
from notifications.protocol import gateway, jsonsafe
from notifications.protocol.cursors import Cursor, InvalidCursor

MAX_REF_LENGTH = 64
MAX_TOKEN_LENGTH = 8192


@dataclass(frozen=True)
class ClientFrame:
    type: str
    ref: str | None
    fields: dict[str, Any]


def _require(frame: dict, name: str) -> Any:
    if name not in frame:
        raise BadFrame(f"'{name}' is required")
    return frame[name]


def _check_resume(frame: dict) -> dict:
    coalesce = frame.get("coalesce", False)
    if not isinstance(coalesce, bool):
        raise BadFrame("'coalesce' must be true or false")
    try:
        return {"cursor": Cursor.decode(_require(frame, "cursor")), "coalesce": coalesce}
    except InvalidCursor as exc:
        raise BadFrame(f"'cursor': {exc}") from None


def _check_ack(frame: dict) -> dict:
    event_id = _require(frame, "id")
    try:
        return {"id": uuid.UUID(event_id)}
    except (TypeError, ValueError, AttributeError):
        raise BadFrame("'id' must be the id of an event") from None


def _check_ping(frame: dict) -> dict:
    return {"ts": frame.get("ts")}


def _check_refresh(frame: dict) -> dict:
    token = _require(frame, "token")
    if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_LENGTH:
        raise BadFrame(f"'token' must be a JWT of at most {MAX_TOKEN_LENGTH} characters")
    return {"token": token}


_CHECKS = {
    "resume": _check_resume,
    "ack": _check_ack,
    "ping": _check_ping,
    "refresh": _check_refresh,
    "request": gateway.check_request,
}


def parse_client_frame(text: str) -> ClientFrame:
    """Return the checked frame, or raise a FrameError saying what is wrong."""
    try:
        frame = jsonsafe.loads(text)
    except jsonsafe.UnsafeJSON as exc:
        raise BadFrame(f"frame is not valid JSON: {exc}") from None
    if not isinstance(frame, dict):
        raise BadFrame("frame must be a JSON object")
    ref = frame.get("ref")
    if ref is not None and (not isinstance(ref, str) or len(ref) > MAX_REF_LENGTH):
        raise BadFrame(f"'ref' must be a string of at most {MAX_REF_LENGTH} characters")
    frame_type = frame.get("type")
    if not isinstance(frame_type, str):
        raise _with_ref(BadFrame("'type' must be a string"), ref)
    check = _CHECKS.get(frame_type)
    if check is None:
        raise _with_ref(UnknownFrameType(f"unknown frame type '{frame_type[:40]}'"), ref)
    try:
        fields = check(frame)
    except FrameError as exc:
        raise _with_ref(exc, ref) from None
    return ClientFrame(type=frame_type, ref=ref, fields=fields)


def ref_of(error: FrameError) -> str | None:
    """Return the `ref` of the frame that caused an error, when it had a valid one."""
    return getattr(error, "ref", None)


def _with_ref(error: FrameError, ref: str | None) -> FrameError:
    error.ref = ref
    return error


def _dump(frame: dict) -> str:
    # allow_nan=False: NaN and Infinity are no JSON; a value holding one raises instead of going out.
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def welcome(
    *, user_id: int, username: str, connection_id: str, cursor: Cursor, heartbeat: int, server_time: str
) -> str:
    return _dump(
        {
            "type": "welcome",
            "user": {"id": user_id, "username": username},
            "connection_id": connection_id,
            "cursor": cursor.encode(),
            "heartbeat": heartbeat,
            "server_time": server_time,
        }
    )


def encode_payload(payload: dict) -> str:
    """Return an event's stored fields as JSON, once, to be completed per connection by `event`."""
    return _dump(payload)[1:-1]


def event(encoded_payload: str, cursor: Cursor) -> str:
    """Return an `event` frame from a payload encoded by `encode_payload` and this connection's cursor."""
    return f'{{"type":"event","cursor":"{cursor.encode()}",{encoded_payload}}}'


def replayed(count: int, cursor: Cursor, ref: str | None, coalesced: int | None = None) -> str:
    """Return `replayed`; `coalesced` (how many events a coalesced resume skipped) only answers one."""
    frame = {"type": "replayed", "count": count, "cursor": cursor.encode()}
    if coalesced is not None:
        frame["coalesced"] = coalesced
    return _dump(_reffed(frame, ref))


def reset(reason: str, ref: str | None) -> str:
    return _dump(_reffed({"type": "reset", "reason": reason}, ref))


def read(up_to: str, unread: int) -> str:
    return _dump({"type": "read", "up_to": up_to, "unread": unread})


def pong(ts: Any, ref: str | None) -> str:
    return _dump(_reffed({"type": "pong", "ts": ts}, ref))


def refreshed(exp: int, ref: str | None) -> str:
    return _dump(_reffed({"type": "refreshed", "exp": exp}, ref))


def error(code: str, message: str, ref: str | None) -> str:
    return _dump({"type": "error", "code": code, "message": message, "ref": ref})


def _reffed(frame: dict, ref: str | None) -> dict:
    if ref is not None:
        frame["ref"] = ref
    return frame
