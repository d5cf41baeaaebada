"""Server-Sent Events at `/api/v1/stream/` (PROTOCOL section 4.4), as an adapter over a `Session`.

A plain ASGI application: the response streams (`more_body`) for as long as
the session lives. Everything a client could send is checked before the
response starts: the Origin (403), the cursor (400), the authentication
(401); each answers a JSON `{"detail": ...}`. Then `event: welcome`, the
events after the client's `Last-Event-ID` (or `?cursor=`) and the live ones,
a comment every `heartbeat` seconds, and `event: session-ended` when the
session ends. Reading and acknowledging go over REST.
"""

import asyncio
import json
import logging
from urllib.parse import parse_qs

from notifications import conf
from notifications.protocol import frames, sse
from notifications.protocol.cursors import Cursor, InvalidCursor
from notifications.protocol.event_facts import EventFacts
from notifications.realtime.origins import is_allowed_origin
from notifications.realtime.session import (
    CLOSE_GOING_AWAY,
    CLOSE_INTERNAL_ERROR,
    CLOSE_NOT_AUTHENTICATED,
    CLOSE_SESSION_ENDED,
    Session,
)

logger = logging.getLogger(__name__)

PATH = "/api/v1/stream/"
PROTOCOL_NAME = "sse"
# How long EventSource waits before it reconnects after a stream that ended without a session end.
RECONNECT_AFTER_MS = 1000
_REFUSED_BEFORE_STREAM = {
    CLOSE_NOT_AUTHENTICATED: (401, "Authentication credentials were not provided or are not valid."),
    CLOSE_INTERNAL_ERROR: (500, "The stream could not be started."),
}


class RequestRefused(Exception):
    """A request answered with `status_code` and a JSON detail before any stream starts."""

    def __init__(self, status_code: int, detail: str):
        super().__init__(detail)
        self.status_code, self.detail = status_code, detail


def _header(scope: dict, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def check_origin(scope: dict) -> None:
    """Raise RequestRefused (403) for a present Origin that the WebSocket handshake would refuse."""
    if _header(scope, b"origin") is None:
        return
    as_socket = {**scope, "scheme": "wss" if scope.get("scheme") == "https" else "ws"}
    if not is_allowed_origin(as_socket):
        raise RequestRefused(403, "This Origin may not open the stream.")


def get_cursor(scope: dict) -> Cursor | None:
    """Return the cursor to resume after: `Last-Event-ID` (EventSource's reconnect), else `?cursor=`, else None."""
    value = _header(scope, b"last-event-id")
    if not value:
        values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("cursor")
        value = values[-1] if values else None
    if not value:
        return None
    try:
        return Cursor.decode(value)
    except InvalidCursor as exc:
        raise RequestRefused(400, f"cursor: {exc}") from None


async def send_json(send, status: int, body: dict, headers: tuple = ()) -> None:
    """Answer a whole JSON response."""
    encoded = json.dumps(body).encode()
    start_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(encoded)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": [*start_headers, *headers]})
    await send({"type": "http.response.body", "body": encoded})


class EventStream:
    """The session's Transport: one streaming HTTP response in SSE terms."""

    def __init__(self, send):
        self._send = send
        self.started = False
        self.client_gone = False
        self.code: int | None = None
        self.finished = asyncio.Event()

    async def _start(self) -> None:
        self.started = True
        await self._send({"type": "http.response.start", "status": 200, "headers": list(sse.RESPONSE_HEADERS)})

    async def write(self, text: str) -> None:
        """Send `text` as part of the stream (nothing once it ended); a lone surrogate raises, before sending."""
        body = text.encode("utf-8")
        if not self.finished.is_set() and not self.client_gone:
            await self._send({"type": "http.response.body", "body": body, "more_body": True})

    async def beat(self, every_secs: float) -> None:
        """Send a comment every `every_secs` until the stream ends (a session task: ending cancels it)."""
        while True:
            await asyncio.sleep(every_secs)
            await self.write(sse.comment("heartbeat"))

    # --- the session's Transport -----------------------------------------------------------

    async def send_welcome(self, session: Session) -> None:
        await self._start()
        await self.write(sse.message(session.welcome_frame(), event="welcome"))
        session.tasks.spawn(self.beat(max(1, conf.heartbeat_secs())), "heartbeat")

    async def send_routed_event(self, frame_text: str, cursor: Cursor, facts: EventFacts) -> None:
        await self.write(sse.message(frame_text, event=facts.kind, id=cursor.encode()))

    async def send_replayed(self, count: int, cursor: Cursor, ref: str | None) -> None:
        await self.write(sse.comment(f"replayed {count}"))

    async def send_reset(self, reason: str, ref: str | None) -> None:
        await self.write(sse.message(json.dumps({"reason": reason}), event="reset"))

    async def send_read(self, up_to: str, unread: int) -> None:
        await self.write(sse.message(frames.read(up_to, unread), event="read"))

    async def close(self, code: int) -> None:
        """End the response: a refusal before the stream, `session-ended` for 4000, else a plain end (reconnect)."""
        if self.finished.is_set():
            return
        self.code = code
        if not self.started and code in _REFUSED_BEFORE_STREAM:
            self.finished.set()
            if not self.client_gone:
                await send_json(self._send, *_answer(*_REFUSED_BEFORE_STREAM[code]))
            return
        if not self.started:
            await self._start()
        if code == CLOSE_SESSION_ENDED:
            await self.write(sse.message(json.dumps({"reason": "session_ended"}), event="session-ended"))
        elif code == CLOSE_GOING_AWAY:
            await self.write(sse.retry(RECONNECT_AFTER_MS))
        self.finished.set()
        if not self.client_gone:
            await self._send({"type": "http.response.body", "body": b"", "more_body": False})


def _answer(status: int, detail: str) -> tuple[int, dict]:
    return status, {"detail": detail}


async def _until_disconnected(receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class EventStreamApp:
    """The ASGI application of `/api/v1/stream/` (behind the session and auth middleware)."""

    async def __call__(self, scope, receive, send) -> None:
        if scope["method"] != "GET":
            await send_json(send, 405, {"detail": "Only GET opens the stream."}, ((b"allow", b"GET"),))
            return
        try:
            check_origin(scope)
            cursor = get_cursor(scope)
        except RequestRefused as refused:
            await send_json(send, refused.status_code, {"detail": refused.detail})
            return
        stream = EventStream(send)
        session = Session(stream, scope, PROTOCOL_NAME)
        try:
            await self.serve(session, stream, cursor, receive)
        except Exception:
            logger.exception("event stream failed", extra=session.log_context("ws.failed"))
            await session.fail()

    async def serve(self, session: Session, stream: EventStream, cursor: Cursor | None, receive) -> None:
        """Run the session until it ends or the client goes; the session then leaves the hub and presence."""
        await session.authenticate()
        await session.start()
        if not session.is_open:
            return
        session.do_resume(cursor or session.delivery.position, None)
        gone = asyncio.ensure_future(_until_disconnected(receive))
        ended = asyncio.ensure_future(stream.finished.wait())
        try:
            await asyncio.wait((gone, ended), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stream.client_gone = gone.done()
            for waiter in (gone, ended):
                waiter.cancel()
            await session.end(stream.code)


class EventStreamRoute:
    """ASGI middleware: `/api/v1/stream/` goes to the event stream, every other HTTP request to `application`."""

    def __init__(self, application, stream_application):
        self.application = application
        self.stream_application = stream_application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] == PATH:
            return await self.stream_application(scope, receive, send)
        return await self.application(scope, receive, send)
