"""Frames written straight to a daphne socket, for the event frames the hot path sends by the thousand.

One `websocket.send` passes Channels' session wrapper (which reads the lazy
session on every message), daphne's reply dispatch, autobahn's framing
(argument checks, statistics, a join) and Twisted's write buffer, which adds
the socket to the selector on every write and removes it once flushed. In a
profile of one instance broadcasting to 1,000 sockets that was over a quarter
of its time. Here an event frame is framed once (RFC 6455: FIN, opcode 1 for
text or 2 for binary, no mask from a server) and handed to the kernel when
Twisted holds nothing unsent for the socket; else to Twisted's buffer, behind
what it holds, so the order stays. A socket that is not open, compressed, on
TLS or past the buffer bound of `backpressure` takes daphne's path (`send_text`
answers False), so every rule of that path still applies to it.

The daphne protocol reaches the application in `scope["extensions"]` under
`EXTENSION`, put there by our `create_application` (`serving/inputqueues.py`);
a scope without it (another server, a test's communicator) always takes the
ASGI path.
"""

import socket
import struct

from twisted.internet import tcp
from twisted.internet.interfaces import ISSLTransport

from notifications import conf
from notifications.serving.backpressure import buffered_bytes

EXTENSION = "notify.raw_frames"
written = 0  # event frames this process wrote here, read at scrape time (ops/metrics.py, through the hub's status)
# autobahn's WebSocketProtocol states (pinned by tests/serving/test_patched_signatures.py)
_CLOSED, _CLOSING, _OPEN = 0, 2, 3


def protocol_of(scope) -> object | None:
    """Return the daphne protocol a raw frame may be written to, or None (send through ASGI)."""
    return scope.get("extensions", {}).get(EXTENSION)


def without_raw_frames(scope: dict) -> dict:
    """Return the scope for an application that reframes what it sends (SockJS): it must take the ASGI path."""
    extensions = scope.get("extensions") or {}
    if EXTENSION not in extensions:
        return scope
    return {**scope, "extensions": {k: v for k, v in extensions.items() if k != EXTENSION}}


def text_frame(payload: bytes) -> bytes:
    """Return an unmasked, final text frame carrying `payload` (RFC 6455 section 5.2)."""
    return _frame(0x81, payload)


def binary_frame(payload: bytes) -> bytes:
    """Return an unmasked, final binary frame carrying `payload`."""
    return _frame(0x82, payload)


def _frame(first_byte: int, payload: bytes) -> bytes:
    length = len(payload)
    if length <= 125:
        return bytes((first_byte, length)) + payload
    if length <= 0xFFFF:
        return struct.pack("!BBH", first_byte, 126, length) + payload
    return struct.pack("!BBQ", first_byte, 127, length) + payload


def send_text(protocol, text: str) -> bool:
    """Write `text` as one text frame on the socket; return False when daphne's path must send it instead."""
    return _send(protocol, text.encode("utf-8"), text_frame)


def send_binary(protocol, data: bytes) -> bool:
    """Write `data` as one binary frame, as `send_text` does."""
    return _send(protocol, data, binary_frame)


def _send(protocol, payload: bytes, framed) -> bool:
    transport = protocol.transport
    if not _open_and_plain(protocol, transport):
        return False
    held = buffered_bytes(transport)
    if held and held > conf.max_socket_buffer_bytes():
        return False  # backpressure's bound drops the socket on daphne's path
    if 0 < protocol.maxMessagePayloadSize < len(payload):
        return False  # autobahn's own refusal applies
    frame = framed(payload)
    if held == 0:
        frame = frame[_send_now(transport.socket, frame) :]
    if frame:
        transport.write(frame)
    global written
    written += 1
    return True


def _open_and_plain(protocol, transport) -> bool:
    """Whether the socket is open, uncompressed, not on TLS, and autobahn and Twisted queue nothing of their own."""
    return (
        protocol.state == _OPEN
        and protocol._perMessageCompress is None
        and not protocol.send_queue
        and not transport.TLS
        and not transport.disconnecting
    )


def _send_now(sock: socket.socket, frame: bytes) -> int:
    """Return how much of `frame` the kernel took at once (a reset is left to Twisted's write to meet)."""
    try:
        return sock.send(frame)
    except OSError:  # would block, interrupted, reset, broken pipe
        return 0


def offer_protocol(protocol, scope: dict) -> None:
    """Put the protocol in a WebSocket scope's extensions when its transport is a plain TCP connection.

    Only the connection itself: daphne's TLS wraps it in a TLSMemoryBIOProtocol,
    which forwards `socket` and the buffer fields to the TCP connection below
    (so they look plain) while it holds unencrypted writes of its own.
    """
    transport = protocol.transport
    if (
        scope.get("type") == "websocket"
        and isinstance(transport, tcp.Connection)
        and not transport.TLS
        and not ISSLTransport.providedBy(transport)
    ):
        scope.setdefault("extensions", {})[EXTENSION] = protocol


def is_closing(protocol) -> bool:
    """Whether the socket has left the open state (autobahn refuses to send then, with an exception)."""
    return protocol.state in (_CLOSING, _CLOSED)
