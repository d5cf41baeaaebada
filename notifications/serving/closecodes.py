"""Close codes RFC 6455 gives servers, sendable from the application under daphne.

daphne's `serverClose` calls autobahn's `sendClose`, which accepts only 1000
and 3000-4999 from an application ("must be 1000 or from [3000, 4999]"). An
application close with 1001 (going away), 1009 (message too big), 1011
(internal error) or 1013 (try again later) therefore raised inside daphne, and the client saw 1011 or
an aborted connection instead of the code the protocol promises. This wraps
`serverClose` so those codes go out as plain close frames; every other code
still takes autobahn's checked path.
"""

# RFC 6455 section 7.4.1 codes a server may send (1005, 1006 and 1015 are never sent on the wire),
# and 1013 (try again later, in IANA's registry of close codes): a connect shed past the connect rate.
SERVER_CLOSE_CODES = frozenset({1001, 1002, 1003, 1007, 1008, 1009, 1011, 1013})


def allow_server_close_codes() -> None:
    """Let daphne's WebSocket protocol send the RFC's server close codes (idempotent; a no-op without daphne)."""
    try:
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError:
        return
    if getattr(WebSocketProtocol.serverClose, "allows_server_codes", False):
        return
    checked_close = WebSocketProtocol.serverClose

    def server_close(protocol, code=None):
        if code in SERVER_CLOSE_CODES:
            protocol.sendCloseFrame(code=code, isReply=False)
        else:
            checked_close(protocol, code)

    server_close.allows_server_codes = True
    server_close.wraps = checked_close
    WebSocketProtocol.serverClose = server_close
