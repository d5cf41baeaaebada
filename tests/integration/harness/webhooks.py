"""A real HTTP webhook receiver for the tests, and the signature check receivers are told to make."""

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_SIGNATURE_AGE_SECS = 300


class WebhookReceiver:
    """A receiver in a thread: answers 500, hangs, or answers 204, as the test says; records every request."""

    def __init__(self, mode: str = "ok"):
        self.mode = mode
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                mode = receiver.mode
                with receiver.lock:
                    receiver.requests.append({"headers": dict(self.headers), "body": body, "mode": mode})
                if mode == "hang":
                    time.sleep(4)
                    return
                self.send_response(500 if mode == "fail" else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def count(self, mode: str) -> int:
        with self.lock:
            return sum(1 for r in self.requests if r["mode"] == mode)

    def received(self) -> list[dict]:
        with self.lock:
            return list(self.requests)

    def wait_for(self, count: int, timeout: float) -> list[dict]:
        """Return the requests received once there are `count` (or all there are at the timeout)."""
        deadline = time.monotonic() + timeout
        while len(self.received()) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        return self.received()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> "WebhookReceiver":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def verify(secret: str, request: dict) -> dict:
    """Check the signature as docs/connection-events.md tells receivers to; return the body."""
    fields = dict(part.split("=", 1) for part in request["headers"]["X-Notify-Signature"].split(","))
    expected = hmac.new(secret.encode(), fields["t"].encode() + b"." + request["body"], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(fields["v1"], expected)
    assert abs(time.time() - int(fields["t"])) < MAX_SIGNATURE_AGE_SECS
    body = json.loads(request["body"])
    assert request["headers"]["X-Notify-Event"] == body["type"]
    return body
