"""STOMP's way into the gateway (PROTOCOL section 5.1): a SEND to `/app/request`, answered on `/user/queue/replies`.

Pure: `request_of` checks a SEND's headers and JSON body with the same
checks as the JSON `request` frame (protocol/gateway.py) and raises their
FrameError; `reply` builds the MESSAGE carrying an answer.
"""

import json

from notifications.errors import BadFrame
from notifications.protocol import gateway, jsonsafe
from notifications.protocol.gateway import Answer, GatewayRequest
from notifications.protocol.stomp.errors import BadHeader
from notifications.protocol.stomp.frames import StompFrame
from notifications.protocol.stomp.server_frames import JSON

REQUEST_DESTINATION = "/app/request"
REPLIES_DESTINATION = "/user/queue/replies"
REPLY_ID_PREFIX = "reply-"
MAX_CORRELATION_ID_LENGTH = 64
# What a reply MESSAGE adds around its body, at most: its headers, with the longest ids.
REPLY_OVERHEAD_BYTES = 512
# STOMP header names of the two HTTP headers a request may carry.
HEADERS = {"idempotency-key": "Idempotency-Key", "accept-language": "Accept-Language"}


def correlation_id_of(frame: StompFrame) -> str | None:
    """Return the SEND's `correlation-id` (echoed on the reply); raise BadHeader when it is too long."""
    correlation_id = frame.get("correlation-id")
    if correlation_id is not None and len(correlation_id) > MAX_CORRELATION_ID_LENGTH:
        raise BadHeader(f"correlation-id must be at most {MAX_CORRELATION_ID_LENGTH} characters")
    return correlation_id


def request_of(frame: StompFrame) -> GatewayRequest:
    """Return the checked request of a SEND to /app/request; raise BadFrame or FrameForbidden."""
    fields = {"method": frame.get("method"), "path": frame.get("path"), "service": frame.get("service")}
    headers = {canonical: frame.get(name) for name, canonical in HEADERS.items() if name in frame}
    if headers:
        fields["headers"] = headers
    if frame.body:
        try:
            fields["body"] = jsonsafe.loads(frame.body)
        except jsonsafe.UnsafeJSON as exc:
            raise BadFrame(f"the SEND body must be JSON: {exc}") from None
    return gateway.check_request(fields)["request"]


def reply(subscription: str, message_id: str, correlation_id: str | None, answer: Answer) -> StompFrame:
    """Return the MESSAGE on `/user/queue/replies` carrying an answer: `status`, `correlation-id`, JSON body."""
    body = json.dumps(answer.body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    headers = [
        ("destination", REPLIES_DESTINATION),
        ("subscription", subscription),
        ("message-id", message_id),
        ("status", str(answer.status)),
    ]
    if correlation_id is not None:
        headers.append(("correlation-id", correlation_id))
    headers += [("content-type", JSON), ("content-length", str(len(body)))]
    return StompFrame("MESSAGE", tuple(headers), body)
