"""Origin check at the WebSocket handshake: the defence against cross-site socket hijacking.

With `NOTIFY_ALLOWED_ORIGINS` set, the Origin must be one of them. Otherwise
it must be the site's own origin: the scheme the socket is served on (`ws` to
`http`, `wss` to `https`), and a host and port that match the request's Host
header, whose host is in `ALLOWED_HOSTS`; or an entry of CSRF_TRUSTED_ORIGINS.
A refused handshake gets HTTP 403 and never reaches the consumer. A
handshake without Origin and cookie that carries a ticket or token passes
(PROTOCOL section 1): it has no ambient credentials to hijack. So does one
without Origin and cookie to a protocol that carries its ticket inside
(STOMP's `passcode`, MQTT's password): it too can only authenticate with a
ticket, and is closed with that protocol's refusal if it brings none.
"""

from urllib.parse import parse_qs, urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

from notifications import conf
from notifications.realtime.adapters.stomp_socket import offers_stomp

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Endpoints whose protocol authenticates in its first frame (a ticket as STOMP passcode or MQTT password).
IN_BAND_CREDENTIAL_PATHS = ("/ws/stomp/", "/mqtt")


def normalize_origin(origin: str) -> str | None:
    """Return `scheme://host:port` in lower case, or None for something that is not an origin."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or port is None:
        return None
    return f"{parts.scheme}://{parts.hostname.lower()}:{port}"


def _header(scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin1")
    return ""


def _own_origin(scope) -> str | None:
    host = _header(scope, b"host")
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return None
    scheme = "https" if scope.get("scheme") == "wss" else "http"
    return normalize_origin(f"{scheme}://{host}")


def is_allowed_origin(scope) -> bool:
    origin = normalize_origin(_header(scope, b"origin"))
    if origin is None:
        return False
    configured = conf.allowed_origins()
    if configured:
        return origin in {normalize_origin(o) for o in configured}
    trusted = {normalize_origin(o) for o in settings.CSRF_TRUSTED_ORIGINS}
    return origin == _own_origin(scope) or origin in trusted


def is_credential_only_client(scope) -> bool:
    """Return whether a handshake sends no Origin and no cookie but a ticket or token: no ambient credentials.

    Non-browser clients send no Origin; a browser always sends one on a
    cross-site socket, so such a handshake cannot be a hijacked session.
    """
    if _header(scope, b"origin") or _header(scope, b"cookie"):
        return False
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if query.get("ticket") or query.get("token") or _header(scope, b"authorization").startswith("Bearer "):
        return True
    return carries_credentials_in_band(scope)


def carries_credentials_in_band(scope) -> bool:
    """Return whether the socket's protocol brings its ticket in its first frame (STOMP CONNECT, MQTT CONNECT)."""
    if scope.get("path") in IN_BAND_CREDENTIAL_PATHS:
        return True
    return scope.get("path") == "/ws/notifications/" and offers_stomp(scope)


class OriginValidator:
    """ASGI middleware: deny a WebSocket handshake whose Origin is missing or foreign.

    It returns the awaitable of the application it picks instead of awaiting
    it, so an open socket keeps no frame of this layer (`_asgi_single_callable`
    tells asgiref it is an ASGI 3 application all the same).
    """

    _asgi_single_callable = True

    def __init__(self, application):
        self.application = application

    def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not (is_allowed_origin(scope) or is_credential_only_client(scope)):
            return WebsocketDenier()(scope, receive, send)
        return self.application(scope, receive, send)
