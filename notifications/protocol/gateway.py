"""The `request` and `response` frames of PROTOCOL section 5.1: REST over the socket, checked at the edge.

Pure, no I/O. `check_request` is what the frame parser calls for a `request`
frame (and the STOMP adapter for a SEND to `/app/request`); what it returns
is safe to hand to a view or an upstream. Which services exist is the
runtime's to say (realtime/gateway/), not the wire format's.
"""

import json
import re
from dataclasses import dataclass, field
from typing import Any

from notifications.errors import BadFrame, FrameForbidden
from notifications.protocol import jsonsafe

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
LOCAL_PREFIX = "/api/v1/"
MAX_PATH_LENGTH = 2048
MAX_SERVICE_LENGTH = 64
# Canonical spelling of each header a request may carry, and the longest value taken.
HEADER_LIMITS = {"idempotency-key": ("Idempotency-Key", 200), "accept-language": ("Accept-Language", 256)}
# Printable ASCII but `#` (a fragment is no part of a request) and `\` (some servers read it as `/`).
_PATH = re.compile(r"/[!-\"$-\[\]-~]*")
_SERVICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_HEADER_VALUE = re.compile(r"[ -~]*")
NO_BODY = object()


@dataclass(frozen=True)
class GatewayRequest:
    """A checked request: `service` None for this service's own API; `body` NO_BODY when the frame had none."""

    method: str
    path: str
    service: str | None = None
    body: Any = NO_BODY
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def content(self) -> bytes:
        """Return the body as the UTF-8 JSON a view or upstream reads (empty without one)."""
        if self.body is NO_BODY:
            return b""
        return json.dumps(self.body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class Answer:
    """A status and a body (checked JSON, a string or None), as a `response` frame carries them."""

    status: int
    body: Any

    @classmethod
    def detail(cls, status: int, detail: str) -> "Answer":
        """Return an answer of the service's own, with a body like the REST API's errors."""
        return cls(status, {"detail": detail})


def check_request(frame: dict) -> dict:
    """Return the fields of a `request` frame (`request`: a GatewayRequest); raise BadFrame or FrameForbidden."""
    service = check_service(frame.get("service"))
    request = GatewayRequest(
        method=check_method(frame.get("method")),
        path=check_path(frame.get("path"), local=service is None),
        service=service,
        body=frame.get("body", NO_BODY),
        headers=check_headers(frame.get("headers")),
    )
    return {"request": request}


def check_method(method: Any) -> str:
    if method not in METHODS:
        raise BadFrame(f"'method' must be one of {', '.join(METHODS)}")
    return method


def check_service(service: Any) -> str | None:
    if service is None:
        return None
    if not isinstance(service, str) or len(service) > MAX_SERVICE_LENGTH or not _SERVICE.fullmatch(service):
        raise BadFrame(f"'service' must be the name of a configured service (at most {MAX_SERVICE_LENGTH} characters)")
    return service


def check_path(path: Any, *, local: bool) -> str:
    """Return a path (with its query) safe to resolve or to append to a base URL; refuse dot segments."""
    if not isinstance(path, str) or len(path) > MAX_PATH_LENGTH or not _PATH.fullmatch(path):
        raise BadFrame(f"'path' must be a printable ASCII path starting with '/' (at most {MAX_PATH_LENGTH} chars)")
    segments = path.partition("?")[0].split("/")
    if "." in segments or ".." in segments:
        raise BadFrame("'path' must not contain '.' or '..' segments")
    if local and not path.startswith(LOCAL_PREFIX):
        raise FrameForbidden(f"only paths under {LOCAL_PREFIX} are served without a 'service'")
    return path


def check_headers(headers: Any) -> dict[str, str]:
    """Return the request's headers by canonical name; only Idempotency-Key and Accept-Language are taken."""
    if headers is None:
        return {}
    if not isinstance(headers, dict):
        raise BadFrame("'headers' must be an object")
    checked = {}
    for name, value in headers.items():
        canonical, limit = HEADER_LIMITS.get(name.lower(), (None, 0))
        if canonical is None:
            raise BadFrame(f"header {name[:40]!r} is not allowed: only Idempotency-Key and Accept-Language")
        if not isinstance(value, str) or not 0 < len(value) <= limit or not _HEADER_VALUE.fullmatch(value):
            raise BadFrame(f"header {canonical!r} must be printable ASCII of 1 to {limit} characters")
        checked[canonical] = value
    return checked


def response(ref: str | None, status: int, body: Any) -> str:
    """Return a `response` frame; `body` is checked JSON (jsonsafe), a string or None."""
    frame = {"type": "response", "ref": ref, "status": status, "body": body}
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def response_overhead(ref: str | None) -> int:
    """Return the bytes a `response` frame adds around its body (so a body can be measured against the limit)."""
    return len(response(ref, 999, None).encode("utf-8")) - len(b"null")


def parse_body(content: bytes, content_type: str) -> Any:
    """Return a view's or upstream's body: parsed when it is safe JSON, else a string, None when empty."""
    if not content:
        return None
    if "json" in content_type.lower():
        try:
            return jsonsafe.loads(content)
        except jsonsafe.UnsafeJSON:
            pass
    return content.decode("utf-8", "replace").replace("\x00", "\ufffd")
