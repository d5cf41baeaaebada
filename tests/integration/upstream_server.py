"""An upstream HTTP service for the gateway tests: verifies the gateway's JWT and misbehaves on demand.

Every request must carry `Authorization: Bearer <JWT>` that verifies with one
of the public keys it holds (RS256 or ES256), with iss `notify`, aud its own
name, sub and exp; anything else answers 401. Paths under the base:
`/echo...` answers what it saw (claims, method, path, headers, body),
`/hold` waits until `release` is set (at most HOLD_SECS), `/close` drops the
connection unanswered, `/fail` answers 500, `/huge` sends a body past any
frame with its Content-Length, `/huge-stream` one without (read until close).
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt

HOLD_SECS = 30.0
HUGE_BYTES = 1024 * 1024
CHUNK = b"x" * 16384


class UpstreamServer:
    """A ThreadingHTTPServer on 127.0.0.1 in a thread; `seen` keeps every verified request's claims."""

    def __init__(self, name: str, public_keys: dict[str, object], base_path: str = "/base"):
        self.name, self.public_keys, self.base_path = name, public_keys, base_path
        self.release = threading.Event()
        self.holding = threading.Semaphore(0)
        self.seen: list[dict] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name=f"upstream-{name}", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{self.base_path}"

    def start(self) -> "UpstreamServer":
        self.thread.start()
        return self

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def verify(self, authorization: str) -> dict:
        """Return the claims of a valid gateway token; raise jwt.InvalidTokenError otherwise."""
        scheme, _, token = authorization.partition(" ")
        if scheme != "Bearer":
            raise jwt.InvalidTokenError("no bearer token")
        algorithm = jwt.get_unverified_header(token)["alg"]
        if algorithm not in self.public_keys:
            raise jwt.InvalidTokenError(f"unexpected alg {algorithm}")
        return jwt.decode(
            token,
            self.public_keys[algorithm],
            algorithms=[algorithm],
            audience=self.name,
            issuer="notify",
            options={"require": ["exp", "iss", "sub", "aud"]},
        )


def _handler_for(upstream: UpstreamServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format, *args) -> None:  # quiet: pytest shows failures, not access logs
            pass

        def do_GET(self) -> None:
            self._serve()

        do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            try:
                claims = upstream.verify(self.headers.get("Authorization", ""))
            except jwt.InvalidTokenError as exc:
                self._answer(401, {"detail": str(exc)})
                return
            upstream.seen.append(claims)
            route = self.path.removeprefix(upstream.base_path).partition("?")[0]
            getattr(self, "_" + route.strip("/").replace("-", "_"), self._echo)(claims, body)

        def _echo(self, claims: dict, body: bytes) -> None:
            seen = {
                "claims": claims,
                "method": self.command,
                "path": self.path,
                "content_type": self.headers.get("Content-Type"),
                "idempotency_key": self.headers.get("Idempotency-Key"),
                "accept_language": self.headers.get("Accept-Language"),
                "cookie": self.headers.get("Cookie"),
                "body": json.loads(body) if body else None,
            }
            self._answer(200, seen)

        def _hold(self, claims: dict, body: bytes) -> None:
            upstream.holding.release()
            upstream.release.wait(HOLD_SECS)
            self._answer(200, {"held": True})

        def _close(self, claims: dict, body: bytes) -> None:
            self.close_connection = True
            self.connection.shutdown(2)

        def _fail(self, claims: dict, body: bytes) -> None:
            self._answer(500, {"detail": "upstream broke"})

        def _text(self, claims: dict, body: bytes) -> None:
            self._send(201, b"plain words", "text/plain")

        def _huge(self, claims: dict, body: bytes) -> None:
            self._send(200, b"x" * HUGE_BYTES, "text/plain")

        def _huge_stream(self, claims: dict, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Connection", "close")
            self.end_headers()
            try:
                for _ in range(HUGE_BYTES // len(CHUNK)):
                    self.wfile.write(CHUNK)
            except OSError:  # the gateway stopped reading past its limit, as it should
                pass
            self.close_connection = True

        def _answer(self, status: int, payload: dict) -> None:
            self._send(status, json.dumps(payload).encode(), "application/json")

        def _send(self, status: int, content: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            try:
                self.wfile.write(content)
            except OSError:
                pass

    return Handler
