"""Connect-rate admission: past NOTIFY_MAX_CONNECTS_PER_SEC, a new socket is told to come back later.

When an instance holding thousands of sockets dies, its clients reconnect to
the others all at once; each connect costs database round trips, and an
instance taking them all falls behind on everything it already serves. Past
the rate, a WebSocket handshake is accepted and closed at once with 1013
(try again later), which the JavaScript client treats as "back off and
retry"; an event stream (SSE) gets 503 with `Retry-After`. Nothing is read
from the database for a shed connection.
"""

import time

from notifications import conf
from notifications.ops import metrics

CLOSE_TRY_AGAIN_LATER = 1013
RETRY_AFTER_SECS = 2


class ConnectBucket:
    """A token bucket of connects: `rate` a second, `burst` at once; a rate of 0 admits everything."""

    def __init__(self, rate: float, burst: int, clock=time.monotonic):
        self.rate, self.burst, self._clock = rate, max(1, burst), clock
        self._tokens = float(self.burst)
        self._updated = clock()

    def admit(self) -> bool:
        if self.rate <= 0:
            return True
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class Admission:
    """One instance's connect budget, shared by every gate in front of its sockets and event streams."""

    def __init__(self):
        self._bucket: ConnectBucket | None = None  # built from the settings at the first connect

    def bucket(self) -> ConnectBucket:
        if self._bucket is None:
            self._bucket = ConnectBucket(conf.max_connects_per_sec(), conf.connect_burst())
        return self._bucket

    def gate(self, app) -> "ConnectRateGate":
        """Return `app` behind a gate that sheds connects past this budget."""
        return ConnectRateGate(app, self)


class ConnectRateGate:
    """ASGI middleware, placed before authentication, that sheds a connect past the budget (1013, or 503).

    It returns the awaitable it picks instead of awaiting it, so an open
    socket keeps no frame of this layer (an ASGI 3 application all the same).
    """

    _asgi_single_callable = True

    def __init__(self, app, admission: Admission):
        self.app = app
        self.admission = admission

    def __call__(self, scope, receive, send):
        if not self.admission.bucket().admit():
            metrics.SOCKETS_SHED.labels(transport=scope["type"]).inc()
            if scope["type"] == "websocket":
                return _shed_websocket(scope, receive, send)
            return _shed_http(send)
        return self.app(scope, receive, send)


async def _shed_websocket(scope, receive, send) -> None:
    """Accept (selecting an offered subprotocol, which stock clients require) and close with 1013 at once."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    subprotocols = scope.get("subprotocols") or []
    await send({"type": "websocket.accept", "subprotocol": subprotocols[0] if subprotocols else None})
    await send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN_LATER})


async def _shed_http(send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [(b"retry-after", str(RETRY_AFTER_SECS).encode()), (b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": b"Too many connections at once; try again shortly.\n"})
