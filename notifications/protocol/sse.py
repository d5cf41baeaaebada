"""The Server-Sent Events wire format of `/api/v1/stream/` (PROTOCOL section 4.4): pure, no I/O.

An event is `id:`, `event:` and `data:` lines and a blank line; a comment is
a line starting with `:`. A line break inside `data` starts another `data:`
line (the client joins them with "\\n"); `id` and `event` cannot hold one.
"""

import re

CONTENT_TYPE = "text/event-stream; charset=utf-8"
RESPONSE_HEADERS = (
    (b"content-type", CONTENT_TYPE.encode()),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
)
EVENT_KINDS = ("request.status", "announcement")

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class InvalidField(ValueError):
    """An `id` or `event` value that a line break or NUL would corrupt."""


def _single_line(name: str, value: str) -> str:
    if _LINE_BREAK.search(value) or "\0" in value:
        raise InvalidField(f"an SSE {name} cannot hold a line break or NUL")
    return value


def message(data: str, *, event: str | None = None, id: str | None = None) -> str:
    """Return one event: its `id`, `event` and `data` lines, then the blank line that dispatches it."""
    lines = [] if id is None else [f"id: {_single_line('id', id)}"]
    if event is not None:
        lines.append(f"event: {_single_line('event', event)}")
    lines.extend(f"data: {line}" for line in _LINE_BREAK.split(data))
    return "\n".join(lines) + "\n\n"


def comment(text: str = "") -> str:
    """Return a comment (ignored by EventSource; keeps proxies and the connection alive)."""
    return "".join(f": {line}\n" for line in _LINE_BREAK.split(text)) + "\n"


def retry(milliseconds: int) -> str:
    """Return the field that sets how long EventSource waits before it reconnects."""
    return f"retry: {int(milliseconds)}\n\n"
