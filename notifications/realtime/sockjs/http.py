"""The HTTP transports of SockJS 0.3.3: `info`, `xhr`, `xhr_streaming`, `eventsource` and `xhr_send`.

URLs: `/sockjs/<endpoint>/info` and `/sockjs/<endpoint>/<server>/<session>/<transport>`.
Every request with an `Origin` header passes the socket's Origin check or
gets 403; a request for a session held here acts on it (the same user or
the opening ticket, else 403); one for a session held by another instance
is relayed there (`relay.py`); a receiving request for an unknown session
opens it here, a `xhr_send` to one gets 404.
"""

import asyncio
import logging
import secrets
from contextlib import aclosing
from dataclasses import dataclass

from channels.auth import AuthMiddlewareStack

from notifications.protocol import sockjs
from notifications.realtime.authentication import carried_credential
from notifications.realtime.layer import LayerUnavailable
from notifications.realtime.origins import is_allowed_origin
from notifications.realtime.sockjs.endpoints import Endpoint, available
from notifications.realtime.sockjs.relay import Credential, NotHeld, relay, ticket_digest
from notifications.realtime.sockjs.sessions import heartbeat_secs, registry

logger = logging.getLogger(__name__)

PREFIX = "/sockjs/"
MAX_BODY_BYTES = 1024 * 1024
NO_CACHE = b"no-store, no-cache, no-transform, must-revalidate, max-age=0"


@dataclass(frozen=True)
class Transport:
    """How one receiving transport frames its response."""

    name: str
    content_type: bytes
    streaming: bool
    prelude: str = ""

    def framed(self, frame: str) -> str:
        return sockjs.eventsource_data(frame) if self.name == "eventsource" else frame + "\n"


RECEIVING = {
    "xhr": Transport("xhr", b"application/javascript; charset=UTF-8", False),
    "xhr_streaming": Transport(
        "xhr_streaming", b"application/javascript; charset=UTF-8", True, sockjs.XHR_STREAMING_PRELUDE
    ),
    "eventsource": Transport("eventsource", b"text/event-stream; charset=UTF-8", True, sockjs.EVENTSOURCE_PRELUDE),
}


def _header(scope: dict, name: bytes) -> str:
    return next((value.decode("latin-1") for key, value in scope.get("headers", []) if key == name), "")


def _cors_headers(scope: dict) -> list[tuple[bytes, bytes]]:
    origin = _header(scope, b"origin")
    if not origin or origin == "null":
        return [(b"access-control-allow-origin", b"*")]
    return [(b"access-control-allow-origin", origin.encode("latin-1")), (b"access-control-allow-credentials", b"true")]


def has_foreign_origin(scope: dict) -> bool:
    """Return whether the request carries an Origin header that the socket's Origin check refuses."""
    if not _header(scope, b"origin"):
        return False
    return not is_allowed_origin({**scope, "scheme": "wss" if scope.get("scheme") == "https" else "ws"})


def credential_of(scope: dict) -> Credential:
    """Return what the request authenticates with (its cookie's user, its ticket's or token's digest)."""
    user = scope.get("user")
    user_id = user.pk if user is not None and user.is_authenticated else None
    return Credential(user_id, ticket_digest(carried_credential(scope)))


class Response:
    """One HTTP response of a SockJS request, started once, written frame by frame."""

    def __init__(self, scope: dict, send):
        self.scope, self._send, self.started, self.finished = scope, send, False, False

    async def start(self, status: int, content_type: bytes = b"text/plain; charset=UTF-8", extra=()) -> None:
        headers = [
            (b"content-type", content_type),
            (b"cache-control", NO_CACHE),
            (b"x-accel-buffering", b"no"),  # nginx passes streams through unbuffered
            *_cors_headers(self.scope),
            *extra,
        ]
        self.started = True
        await self._send({"type": "http.response.start", "status": status, "headers": headers})

    async def write(self, text: str, last: bool) -> None:
        self.finished = last
        await self._send({"type": "http.response.body", "body": text.encode("utf-8"), "more_body": not last})

    async def simple(self, status: int, body: str = "", content_type: bytes = b"text/plain; charset=UTF-8") -> None:
        await self.start(status, content_type)
        await self.write(body, True)


class LocalReceiver:
    """The receiving request of a session held here."""

    remote = False

    def __init__(self, response: Response, transport: Transport):
        self.response, self.transport, self.streaming = response, transport, transport.streaming

    async def send(self, frame: str, last: bool) -> None:
        await self.response.write(self.transport.framed(frame), last)


async def _read_body(receive) -> bytes | None:
    """Return the request body, or None past MAX_BODY_BYTES."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > MAX_BODY_BYTES:
            return None
        if not message.get("more_body"):
            return b"".join(chunks)


async def _until_disconnect(receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _while_connected(receive, work) -> None:
    """Run `work` until it ends or the client goes away (then it is cancelled)."""
    doing = asyncio.ensure_future(work)
    leaving = asyncio.ensure_future(_until_disconnect(receive))
    try:
        await asyncio.wait([doing, leaving], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (doing, leaving):
            task.cancel()
        await asyncio.gather(doing, leaving, return_exceptions=True)
    if doing.done() and not doing.cancelled() and doing.exception() is not None:
        raise doing.exception()


class SockJsHttp:
    """The ASGI application of the SockJS HTTP transports (behind the session and auth middleware)."""

    async def __call__(self, scope, receive, send):
        response = Response(scope, send)
        parts = scope["path"][len(PREFIX) :].split("/")
        endpoint = available(parts[0])
        if endpoint is None:
            return await response.simple(404, "Not found")
        if has_foreign_origin(scope):
            return await response.simple(403, "Forbidden origin")
        if scope["method"] == "OPTIONS":
            return await self.preflight(response)
        if parts[1:] in ([], [""]):
            return await response.simple(200, "Welcome to SockJS!\n")
        if parts[1:] == ["info"]:
            return await self.info(response)
        if len(parts) != 4 or not (sockjs.is_valid_id(parts[1]) and sockjs.is_valid_id(parts[2])):
            return await response.simple(404, "Not found")
        session_id, transport = parts[2], parts[3]
        if transport == "xhr_send":
            return await self.xhr_send(endpoint, session_id, scope, receive, response)
        if transport in RECEIVING:
            await _read_body(receive)
            return await self.receiving(endpoint, session_id, RECEIVING[transport], scope, receive, response)
        return await response.simple(404, "Not found")

    async def preflight(self, response: Response) -> None:
        methods = [(b"access-control-allow-methods", b"OPTIONS, GET, POST"), (b"access-control-max-age", b"31536000")]
        allow = [(b"access-control-allow-headers", b"Content-Type")]
        await response.start(204, extra=methods + allow)
        await response.write("", True)

    async def info(self, response: Response) -> None:
        body = sockjs.dumps(sockjs.info(websocket=True, entropy=secrets.randbelow(2**32)))
        await response.simple(200, body, b"application/json; charset=UTF-8")

    async def xhr_send(self, endpoint: Endpoint, session_id: str, scope, receive, response: Response) -> None:
        body = await _read_body(receive)
        if body is None:
            return await response.simple(413, "Payload too large")
        try:
            messages = sockjs.parse_payload(body)
        except sockjs.BadPayload as exc:
            return await response.simple(500, str(exc))
        credential = credential_of(scope)
        session = registry().get(endpoint.name, session_id)
        if session is not None:
            if not session.admits(credential):
                return await response.simple(403, "Forbidden")
            await session.receive(messages)
            return await response.simple(204)
        forwarded = relay.forward(
            "send", endpoint.name, session_id, silence_secs=0, credential=credential.as_message(), messages=messages
        )
        try:
            async with aclosing(forwarded) as replies:
                async for reply in replies:
                    return await response.simple(reply["status"], "" if reply["status"] == 204 else "Forbidden")
        except NotHeld:
            return await response.simple(404, "Not found")

    async def receiving(self, endpoint, session_id, transport: Transport, scope, receive, response) -> None:
        credential = credential_of(scope)
        session = registry().get(endpoint.name, session_id)
        if session is None:
            try:
                return await _while_connected(
                    receive, self.relayed(endpoint, session_id, transport, credential, response)
                )
            except NotHeld:
                try:
                    session = await registry().create(endpoint, session_id, scope)
                except LayerUnavailable:  # other instances could not reach it: refuse rather than strand it
                    return await response.simple(503, "Service unavailable")
        elif not session.admits(credential):
            return await response.simple(403, "Forbidden")
        await response.start(200, transport.content_type)
        if transport.prelude:
            await response.write(transport.prelude, False)
        await _while_connected(receive, session.serve(LocalReceiver(response, transport)))

    async def relayed(self, endpoint, session_id, transport: Transport, credential: Credential, response) -> None:
        op = "stream" if transport.streaming else "poll"
        forwarded = relay.forward(
            op, endpoint.name, session_id, silence_secs=heartbeat_secs(), credential=credential.as_message()
        )
        async with aclosing(forwarded) as replies:
            async for reply in replies:
                if not response.started:
                    if reply["status"] != 200:
                        return await response.simple(reply["status"], "Forbidden")
                    await response.start(200, transport.content_type)
                    if transport.prelude:
                        await response.write(transport.prelude, False)
                if reply["frame"] is not None:
                    await response.write(transport.framed(reply["frame"]), reply["done"])
        if not response.finished:
            await response.write("", True)  # the owner went silent: end the response, the client asks again


def sockjs_application():
    """Return the SockJS HTTP application with the session and user of the request resolved."""
    return AuthMiddlewareStack(SockJsHttp())


def with_sockjs(http_application):
    """Return an HTTP application that serves `/sockjs/` here and everything else with `http_application`."""
    sockjs_app = sockjs_application()

    async def application(scope, receive, send):
        if scope["path"].startswith(PREFIX):
            return await sockjs_app(scope, receive, send)
        return await http_application(scope, receive, send)

    return application
