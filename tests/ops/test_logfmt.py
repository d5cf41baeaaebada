"""Log lines: key=value or JSON with the caller's fields, and no secret whoever logs it."""

import json
import logging

from notifications.ops.logfmt import JsonFormatter, KeyValueFormatter, RedactSecrets, redact


def record(message: str, *args, **extra) -> logging.LogRecord:
    made = logging.LogRecord("notifications.realtime.consumers", logging.INFO, __file__, 1, message, args, None)
    made.__dict__.update(extra)
    return made


def test_key_value_lines_carry_the_fields_passed_as_extra():
    """A socket's log line names its connection and user as fields."""
    line = KeyValueFormatter().format(record("socket connected", event="ws.connect", connection_id="abc", user_id=7))
    assert 'msg="socket connected"' in line and "event=ws.connect connection_id=abc user_id=7" in line
    assert line.startswith("ts=") and "level=INFO" in line


def test_json_lines_are_one_object_each():
    """DJANGO_LOG_FORMAT=json writes one parseable object per line."""
    line = JsonFormatter().format(record("socket closed", event="ws.disconnect", code=1000))
    assert json.loads(line) | {"ts": None} == {
        "ts": None,
        "level": "INFO",
        "logger": "notifications.realtime.consumers",
        "msg": "socket closed",
        "event": "ws.disconnect",
        "code": 1000,
    }


def test_secrets_are_redacted_in_urls_headers_cookies_and_bodies():
    """Tickets, tokens, cookies and passwords never reach a log line."""
    secret = "Zq9_x-SECRET-value-123"
    for text in (
        f"GET /ws/notifications/?ticket={secret} 101",
        f"Authorization: Token {secret}",
        f"Authorization: Bearer {secret}",
        f"Cookie: csrftoken=abc; sessionid={secret}",
        f'{{"ticket": "{secret}", "expires_in": 60}}',
        f"password={secret}&username=ada",
    ):
        assert secret not in redact(text), text
        assert "[redacted]" in redact(text)


def test_the_filter_masks_secrets_passed_as_arguments_by_any_library():
    """The handler filter redacts the rendered message, even when the secret came in through %s."""
    made = record("handshake for %s", "/ws/notifications/?ticket=abcdefgh12345678")
    RedactSecrets().filter(made)
    assert "abcdefgh12345678" not in made.getMessage()
