"""Run the service as operators do and break it as networks do.

- `Deployment`: a fresh database and namespace; `.instance()` starts daphne processes.
- `DaphneInstance`: one process; `kill()`, `terminate()`, `restart()`, `wait_ready()`.
- `TcpProxy`: put it between an instance and the broker; `cut()`, `restore()`, `stall()`.
- `UserSession`, `TokenClient`, `connect_ws` and the `recv_*` helpers: the clients.
- `raw_stomp.RawStomp`: STOMP on a raw socket, where ERROR and the close code show.
- `sockets`: one client per protocol (json, stomp, mqtt, sse, sockjs-json, sockjs-stomp) to open and end a socket.
- `mail.smtp_server()`: a real SMTP server (aiosmtpd) whose `Mailbox` keeps every message.
- `webhooks.WebhookReceiver`: a real HTTP receiver of webhook POSTs; `webhooks.verify` checks a signature.
"""

from .client import (
    SAME_ORIGIN,
    WS_PATH,
    LoginFailed,
    TokenClient,
    UserSession,
    assert_silent,
    connect_ws,
    expect_close,
    handshake_status,
    of_type,
    origin_of,
    recv_json,
    recv_until,
    ws_url_of,
)
from .daphne import DaphneInstance, InstanceError
from .deployment import Deployment, ManageCommandError, collect_static
from .ports import free_port
from .proxy import ProxyClosedError, TcpProxy

__all__ = [
    "SAME_ORIGIN",
    "WS_PATH",
    "DaphneInstance",
    "Deployment",
    "InstanceError",
    "LoginFailed",
    "ManageCommandError",
    "ProxyClosedError",
    "TcpProxy",
    "TokenClient",
    "UserSession",
    "assert_silent",
    "collect_static",
    "connect_ws",
    "expect_close",
    "free_port",
    "handshake_status",
    "of_type",
    "origin_of",
    "recv_json",
    "recv_until",
    "ws_url_of",
]
