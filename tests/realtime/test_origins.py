"""The Origin check of the WebSocket handshake."""

import pytest

from notifications.realtime import origins
from notifications.realtime.origins import is_allowed_origin, normalize_origin


def scope(origin: str | None, host: str = "app.example:8000", scheme: str = "ws"):
    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    return {"type": "websocket", "scheme": scheme, "headers": headers}


@pytest.fixture(autouse=True)
def hosts(settings):
    settings.ALLOWED_HOSTS = ["app.example", "localhost"]
    settings.CSRF_TRUSTED_ORIGINS = []
    settings.NOTIFY_ALLOWED_ORIGINS = []


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("http://app.example:8000", True),
        ("HTTP://App.Example:8000", True),
        ("https://app.example:8000", False),  # not the served scheme
        ("http://app.example:9000", False),  # not the served port
        ("http://evil.example:8000", False),
        ("null", False),
        (None, False),
    ],
)
def test_default_is_the_sites_own_origin(origin, allowed):
    """Without configuration only the page's own scheme, host and port may open a socket."""
    assert is_allowed_origin(scope(origin)) is allowed


def test_a_host_outside_allowed_hosts_is_refused_even_when_origin_matches_it():
    """A forged Host header does not make a foreign origin the site's own."""
    assert not is_allowed_origin(scope("http://evil.example", host="evil.example"))


def test_secure_sockets_expect_https_origins():
    """`wss` is served to `https` pages, default port included."""
    assert is_allowed_origin(scope("https://app.example", host="app.example", scheme="wss"))


def test_configured_origins_replace_the_default(settings):
    """NOTIFY_ALLOWED_ORIGINS lists exactly who may connect."""
    settings.NOTIFY_ALLOWED_ORIGINS = ["https://portal.example"]
    assert is_allowed_origin(scope("https://portal.example:443"))
    assert not is_allowed_origin(scope("http://app.example:8000"))


def test_csrf_trusted_origins_are_allowed(settings):
    """An origin Django already trusts for forms may open sockets too."""
    settings.CSRF_TRUSTED_ORIGINS = ["https://admin.example"]
    assert is_allowed_origin(scope("https://admin.example"))


def test_normalize_rejects_non_http_schemes():
    assert normalize_origin("file:///etc/passwd") is None
    assert normalize_origin("http://a.example") == "http://a.example:80"


@pytest.mark.parametrize(
    ("headers", "query", "passes"),
    [
        ([], b"ticket=abc", True),
        ([], b"token=abc", True),
        ([(b"authorization", b"Bearer abc")], b"", True),
        ([], b"", False),
        ([(b"cookie", b"sessionid=x")], b"ticket=abc", False),
        ([(b"origin", b"http://evil.example")], b"ticket=abc", False),
    ],
)
def test_only_a_credential_without_origin_or_cookie_skips_the_origin_check(headers, query, passes):
    """No Origin is fine for a ticket or token holder sending no cookie; a cookie or any Origin is checked."""
    scope = {"type": "websocket", "headers": [(b"host", b"testserver"), *headers], "query_string": query}
    assert (origins.is_allowed_origin(scope) or origins.is_credential_only_client(scope)) is passes


@pytest.mark.parametrize(
    ("path", "subprotocols", "headers", "passes"),
    [
        ("/ws/stomp/", [], [], True),
        ("/mqtt", ["mqtt"], [], True),
        ("/ws/notifications/", ["v12.stomp"], [], True),
        ("/ws/notifications/", [], [], False),
        ("/ws/notifications/", ["notify.v1.json", "v12.stomp"], [], False),
        ("/ws/stomp/", [], [(b"cookie", b"sessionid=x")], False),
    ],
)
def test_a_protocol_with_its_ticket_in_its_first_frame_needs_no_origin_without_a_cookie(
    path, subprotocols, headers, passes
):
    """STOMP (passcode) and MQTT (password) clients without Origin or cookie pass; with a cookie they are checked."""
    scope = {
        "type": "websocket",
        "path": path,
        "subprotocols": subprotocols,
        "headers": [(b"host", b"testserver"), *headers],
        "query_string": b"",
    }
    assert (origins.is_allowed_origin(scope) or origins.is_credential_only_client(scope)) is passes
