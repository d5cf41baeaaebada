"""daphne's access log with secrets masked (ops/accesslog.py)."""

import io

from daphne.access import AccessLogGenerator

from notifications.ops.accesslog import redact_daphne_access_log

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZGEiLCJleHAiOjE3OTYxMTkyODh9.okVcXmS_X_uaGNTpxbT5dt5Emvcs975V7pPzfp"


def test_tickets_and_tokens_in_request_lines_are_masked():
    """A WebSocket and an HTTP request line with `?token=` / `?ticket=` reach the access log redacted."""
    redact_daphne_access_log()
    redact_daphne_access_log()  # idempotent
    stream = io.StringIO()
    log = AccessLogGenerator(stream)
    log("websocket", "connecting", {"client": "127.0.0.1:1", "path": f"/ws/notifications/?token={JWT}"})
    details = {"client": "127.0.0.1:1", "method": "GET", "path": "/mqtt?ticket=abcdefgh123", "status": 101, "size": 0}
    log("http", "complete", details)
    written = stream.getvalue()
    assert JWT.split(".")[2] not in written and "abcdefgh123" not in written
    assert written.count("[redacted]") == 2 and "WSCONNECTING /ws/notifications/?token=[redacted]" in written
