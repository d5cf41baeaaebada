"""The frames the server sends (PROTOCOL section 4.1), built in one place; `frames.encode` makes them bytes."""

from collections.abc import Iterable

from notifications.protocol.stomp.errors import StompError
from notifications.protocol.stomp.frames import HEARTBEAT, StompFrame, encode

SERVER_NAME = "notify/1"
JSON = "application/json"
# An ERROR's `message` is one short line; the body says the rest.
MAX_ERROR_MESSAGE_CHARS = 200

# The server's heart-beat: one EOL, sent as its own WebSocket message.
heartbeat = HEARTBEAT


def connected(
    version: str, heart_beat: tuple[int, int], session: str, user_name: str, cursor: str, server: str = SERVER_NAME
) -> StompFrame:
    """Return the CONNECTED answer; `heart_beat` is the server's own wish, not the negotiated periods."""
    headers = [
        ("version", version),
        ("heart-beat", f"{heart_beat[0]},{heart_beat[1]}"),
        ("session", session),
        ("user-name", user_name),
        ("server", server),
        ("cursor", cursor),
    ]
    return StompFrame("CONNECTED", tuple(headers))


def message(
    destination: str,
    subscription: str,
    message_id: str,
    cursor: str,
    body: bytes,
    *,
    ack: str | None = None,
    extra_headers: Iterable[tuple[str, str]] = (),
) -> StompFrame:
    """Return a MESSAGE carrying one event object (`body`: its JSON); `ack` when the subscription acks."""
    headers = [
        ("destination", destination),
        ("subscription", subscription),
        ("message-id", message_id),
        ("cursor", cursor),
        *extra_headers,
        ("content-type", JSON),
        ("content-length", str(len(body))),
    ]
    if ack is not None:
        headers.append(("ack", ack))
    return StompFrame("MESSAGE", tuple(headers), body)


def message_prefix(destination: str, subscription: str, version: str) -> str:
    """Return how every MESSAGE of one subscription starts (its headers escaped once, at SUBSCRIBE)."""
    head = encode(StompFrame("MESSAGE", (("destination", destination), ("subscription", subscription))), version)
    return head[: -len(b"\n\x00")].decode("utf-8")


def event_message(prefix: str, message_id: str, cursor: str, body: str, ack: str | None = None) -> str:
    """Return the text of `encode(message(...))` for an event: the prefix, then headers that need no escapes.

    `message_id` and `ack` are event uuids and `cursor` is hex, so only the
    prefix's client-chosen values are escaped. A lone surrogate in `body`
    raises UnicodeEncodeError, as encoding the whole frame would.
    """
    length = len(body) if body.isascii() else len(body.encode("utf-8"))
    ack_line = "" if ack is None else f"ack:{ack}\n"
    return (
        f"{prefix}message-id:{message_id}\ncursor:{cursor}\ncontent-type:{JSON}\ncontent-length:{length}\n"
        f"{ack_line}\n{body}\x00"
    )


def receipt(receipt_id: str) -> StompFrame:
    """Return the RECEIPT for a client frame that carried `receipt:<receipt_id>`."""
    return StompFrame("RECEIPT", (("receipt-id", receipt_id),))


def error(
    message: str, *, receipt_id: str | None = None, text: str = "", extra_headers: Iterable[tuple[str, str]] = ()
) -> StompFrame:
    """Return an ERROR (after which the server closes): `message` a short line, `text` an optional body."""
    headers = [("message", _one_line(message)), *extra_headers]
    if receipt_id is not None:
        headers.append(("receipt-id", receipt_id))
    body = text.encode("utf-8")
    if body:
        headers += [("content-type", "text/plain;charset=utf-8"), ("content-length", str(len(body)))]
    return StompFrame("ERROR", tuple(headers), body)


def error_for(exc: StompError, receipt_id: str | None = None) -> StompFrame:
    """Return the ERROR frame for a refused client frame, the one place codec errors become frames."""
    return error(exc.detail, receipt_id=receipt_id, extra_headers=exc.error_headers)


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    if len(line) > MAX_ERROR_MESSAGE_CHARS:
        return line[: MAX_ERROR_MESSAGE_CHARS - 3] + "..."
    return line
