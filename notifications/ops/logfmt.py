"""Log lines operators can grep and ship: key=value or JSON, never carrying a secret.

Our own log calls pass their context as `extra` (`event`, `connection_id`,
`user_id`, ...), which both formatters print as fields. `RedactSecrets` sits
on every handler, so a token, ticket, cookie or password that any library
puts into a message is masked before it is written.
"""

import json
import logging
import re
from datetime import UTC, datetime

REDACTED = "[redacted]"
_SECRET_PATTERNS = (
    # ticket=..., token=..., sessionid=..., csrftoken=..., password=... in URLs, cookies and forms
    re.compile(r"(?i)\b(ticket|token|sessionid|csrftoken|csrfmiddlewaretoken|password|secret|api_key)=([^&\s;\"',]+)"),
    # Authorization: Token <key> / Bearer <key>
    re.compile(r"(?i)\b(Token|Bearer)\s+([A-Za-z0-9._~+/=-]{8,})"),
    # JSON bodies: "ticket": "...", "token": "...", "password": "..."
    re.compile(r'(?i)"(ticket|token|password|secret)"\s*:\s*"([^"]*)"'),
)
# Attributes every LogRecord has; anything else on a record came from `extra`.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def redact(text: str) -> str:
    """Return `text` with every recognised secret value replaced by [redacted]."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(0).replace(m.group(2), REDACTED) if m.group(2) else m.group(0), text)
    return text


class RedactSecrets(logging.Filter):
    """Mask secrets in the rendered message and in its traceback, whoever logged them."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


def context_of(record: logging.LogRecord) -> dict:
    """Return the fields a log call passed as `extra`."""
    return {key: value for key, value in vars(record).items() if key not in _STANDARD_ATTRS}


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


def _kv_value(value) -> str:
    text = str(value)
    if text == "" or any(c in text for c in ' "=\n'):
        return json.dumps(text)
    return text


class KeyValueFormatter(logging.Formatter):
    """`ts=... level=INFO logger=... msg="..." key=value ...` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        fields = {"ts": _timestamp(record), "level": record.levelname, "logger": record.name}
        fields["msg"] = record.getMessage()
        fields.update(context_of(record))
        line = " ".join(f"{key}={_kv_value(value)}" for key, value in fields.items())
        if record.exc_info or record.exc_text:
            line += " exc=" + json.dumps(record.exc_text or self.formatException(record.exc_info))
        return redact(line)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg and the `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        fields = {"ts": _timestamp(record), "level": record.levelname, "logger": record.name}
        fields["msg"] = record.getMessage()
        fields.update(context_of(record))
        if record.exc_info or record.exc_text:
            fields["exc"] = record.exc_text or self.formatException(record.exc_info)
        return redact(json.dumps(fields, default=str))
