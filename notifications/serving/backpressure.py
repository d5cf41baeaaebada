"""A bound on what daphne buffers for a socket whose client stopped reading.

The ASGI interface never tells the application how much of what it sent is
still waiting in the server, and daphne (Twisted) buffers without limit, so
one client that stops reading could grow the process without end. This wraps
daphne's `WebSocketProtocol.serverSend`: when the bytes the kernel has not
taken yet exceed `NOTIFY_MAX_SOCKET_BUFFER_BYTES`, the connection is aborted.
The consumer sees an ordinary disconnect; the client, when it reads again and
reconnects, resumes from its cursor, so nothing is lost.
"""

import logging

from notifications import conf

logger = logging.getLogger(__name__)


def buffered_bytes(transport) -> int:
    """Return the bytes a Twisted TCP transport holds that the kernel has not accepted yet (0 if unknown)."""
    pending = len(getattr(transport, "dataBuffer", b"")) - getattr(transport, "offset", 0)
    return pending + getattr(transport, "_tempDataLen", 0)


def bound_daphne_send_buffers() -> None:
    """Make daphne drop a socket whose unsent bytes pass the limit (idempotent)."""
    try:
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError:  # not served by daphne: nothing to bound here
        return
    if getattr(WebSocketProtocol.serverSend, "bounded", False):
        return
    send = WebSocketProtocol.serverSend

    def server_send(protocol, content, binary=False):
        held = buffered_bytes(protocol.transport)
        if held > conf.max_socket_buffer_bytes():
            logger.warning(
                "socket dropped: its client is not reading",
                extra={"event": "ws.dropped", "reason": "slow_reader", "buffered_bytes": held},
            )
            protocol.transport.abortConnection()
            return
        send(protocol, content, binary)

    server_send.bounded = True
    server_send.wraps = send
    WebSocketProtocol.serverSend = server_send
