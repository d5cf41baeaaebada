"""Clients of a running instance: a signed-in browser without a browser, a token holder, sockets.

    session = UserSession(instance, "alice", "pw").login()
    session.post_json("/api/v1/requests/", {"title": "Export"})
    async with session.websocket() as ws:
        welcome = await recv_json(ws)
        event = await recv_until(ws, of_type("event"), timeout=10)

HTTP is synchronous (httpx) so sync fixtures can use it too; `apost_json` and
`aget` run it in a thread when a test must keep its loop free meanwhile.
Cookies ignore ports, so one session is signed in on every instance of a
deployment: `session.websocket(instance=other)`.
"""

import asyncio
import json
import re
import time
import urllib.parse
from collections.abc import Callable
from typing import Any, Protocol

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

WS_PATH = "/ws/notifications/"
LOGIN_PATH = "/accounts/login/"
LOGOUT_PATH = "/accounts/logout/"
HTTP_TIMEOUT_SECS = 10.0
WS_OPEN_TIMEOUT_SECS = 10.0
RECV_TIMEOUT_SECS = 5.0
MAX_FRAME_BYTES = 2**20
_CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')

Frame = dict[str, Any]


class Target(Protocol):
    """Anything with the origin of a running instance (a DaphneInstance)."""

    @property
    def origin(self) -> str: ...


class LoginFailed(AssertionError):
    """The login form did not sign the user in."""


class _SameOrigin:
    """Default for `origin=`: the origin of the instance being connected to."""


SAME_ORIGIN = _SameOrigin()


def origin_of(target: Target | str) -> str:
    """Return "http://host:port" of an instance or of a URL."""
    if isinstance(target, str):
        parts = urllib.parse.urlsplit(target)
        return f"{parts.scheme}://{parts.netloc}"
    return target.origin


def ws_url_of(target: Target | str, path: str = WS_PATH, query: dict[str, str] | None = None) -> str:
    """Return the ws:// URL of `path` on an instance, with an optional query string."""
    origin = origin_of(target)
    url = "ws" + origin.removeprefix("http") + path
    return f"{url}?{urllib.parse.urlencode(query)}" if query else url


def connect_ws(
    target: Target | str,
    path: str = WS_PATH,
    *,
    origin: str | None | _SameOrigin = SAME_ORIGIN,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    subprotocols: list[str] | None = None,
    open_timeout: float = WS_OPEN_TIMEOUT_SECS,
) -> connect:
    """Return a websockets connect: `await` it or use it with `async with`.

    `origin` defaults to the instance's own origin; pass None to send no Origin.
    """
    if isinstance(origin, _SameOrigin):
        origin = origin_of(target)
    return connect(
        ws_url_of(target, path, query),
        origin=origin,
        additional_headers=headers or {},
        subprotocols=subprotocols,
        open_timeout=open_timeout,
        close_timeout=5,
        max_size=MAX_FRAME_BYTES,
        proxy=None,
    )


async def handshake_status(target: Target | str, path: str = WS_PATH, **kwargs: Any) -> int:
    """Return the HTTP status of a WebSocket handshake: 101 if accepted, else the refusal's status."""
    try:
        async with connect_ws(target, path, **kwargs):
            return 101
    except InvalidStatus as refused:
        return refused.response.status_code


class UserSession:
    """A user signed in through /accounts/login/, as a browser would be."""

    def __init__(self, target: Target | str, username: str, password: str, *, timeout: float = HTTP_TIMEOUT_SECS):
        self.target = target
        self.username = username
        self.password = password
        self.http = httpx.Client(base_url=origin_of(target), timeout=timeout, trust_env=False)

    def login(self) -> "UserSession":
        """Sign in with the login form; raise LoginFailed if no session results."""
        form = self.http.get(LOGIN_PATH)
        token = self.http.cookies.get("csrftoken") or _csrf_from_html(form.text)
        answer = self.http.post(
            LOGIN_PATH,
            data={"username": self.username, "password": self.password, "csrfmiddlewaretoken": token or ""},
            headers={"Referer": str(form.url)},
        )
        if answer.status_code != 302 or "sessionid" not in self.http.cookies:
            raise LoginFailed(f"login of {self.username!r} answered {answer.status_code}: {answer.text[:300]}")
        return self

    def logout(self) -> httpx.Response:
        return self.post_form(LOGOUT_PATH)

    @property
    def csrf_token(self) -> str:
        return self.http.cookies.get("csrftoken", "")

    def cookie_header(self) -> str:
        """Return the Cookie header a browser would send (session and CSRF cookies)."""
        return "; ".join(f"{cookie.name}={cookie.value}" for cookie in self.http.cookies.jar)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def post_json(self, path: str, data: Any = None, *, headers: dict[str, str] | None = None) -> httpx.Response:
        """POST a JSON body with the CSRF header, as the page's scripts do."""
        return self.http.post(path, json=data, headers={**self._csrf_headers(), **(headers or {})})

    def post_form(self, path: str, data: dict[str, str] | None = None) -> httpx.Response:
        return self.http.post(
            path, data={"csrfmiddlewaretoken": self.csrf_token, **(data or {})}, headers=self._csrf_headers()
        )

    async def aget(self, path: str, **kwargs: Any) -> httpx.Response:
        return await asyncio.to_thread(self.get, path, **kwargs)

    async def apost_json(self, path: str, data: Any = None, *, headers: dict[str, str] | None = None) -> httpx.Response:
        return await asyncio.to_thread(self.post_json, path, data, headers=headers)

    def websocket(self, path: str = WS_PATH, *, instance: Target | str | None = None, **kwargs: Any) -> connect:
        """Return a socket connect carrying this session's cookies (see `connect_ws` for kwargs)."""
        headers = {"Cookie": self.cookie_header(), **kwargs.pop("headers", {})}
        return connect_ws(instance or self.target, path, headers=headers, **kwargs)

    def _csrf_headers(self) -> dict[str, str]:
        return {"X-CSRFToken": self.csrf_token, "Referer": str(self.http.base_url)}

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "UserSession":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class TokenClient:
    """A backend service calling the REST API with `Authorization: Token <key>`."""

    def __init__(self, target: Target | str, token: str, *, timeout: float = HTTP_TIMEOUT_SECS) -> None:
        self.http = httpx.Client(
            base_url=origin_of(target), timeout=timeout, trust_env=False, headers={"Authorization": f"Token {token}"}
        )

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def post_json(self, path: str, data: Any = None, *, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.http.post(path, json=data, headers=headers)

    async def apost_json(self, path: str, data: Any = None, *, headers: dict[str, str] | None = None) -> httpx.Response:
        return await asyncio.to_thread(self.post_json, path, data, headers=headers)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "TokenClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _csrf_from_html(html: str) -> str | None:
    match = _CSRF_INPUT.search(html)
    return match.group(1) if match else None


# --- reading frames ----------------------------------------------------------


def of_type(frame_type: str) -> Callable[[Frame], bool]:
    """Return a predicate matching frames whose "type" is `frame_type`."""
    return lambda frame: frame.get("type") == frame_type


async def recv_json(ws: ClientConnection, timeout: float = RECV_TIMEOUT_SECS) -> Frame:
    """Return the next frame, decoded; fail the test if none comes within `timeout`."""
    try:
        raw = await asyncio.wait_for(ws.recv(), timeout)
    except TimeoutError:
        raise AssertionError(f"no frame within {timeout}s") from None
    return json.loads(raw)


async def recv_until(
    ws: ClientConnection,
    predicate: Callable[[Frame], bool],
    timeout: float = RECV_TIMEOUT_SECS,
    skipped: list[Frame] | None = None,
) -> Frame:
    """Return the first frame matching `predicate` within `timeout` in all; others go to `skipped`."""
    deadline = time.monotonic() + timeout
    seen: list[Frame] = [] if skipped is None else skipped
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no matching frame within {timeout}s; skipped {len(seen)}: {seen[-5:]}")
        try:
            frame = await recv_json(ws, remaining)
        except AssertionError:
            continue
        if predicate(frame):
            return frame
        seen.append(frame)


async def expect_close(ws: ClientConnection, timeout: float = RECV_TIMEOUT_SECS) -> int:
    """Read until the server closes the socket and return the close code; fail after `timeout`."""

    async def drain() -> None:
        try:
            while True:
                await ws.recv()
        except ConnectionClosed:
            return

    try:
        await asyncio.wait_for(drain(), timeout)
    except TimeoutError:
        raise AssertionError(f"socket still open after {timeout}s") from None
    return ws.close_code


async def assert_silent(ws: ClientConnection, seconds: float) -> None:
    """Fail if any frame arrives within `seconds` (for 'nothing is delivered' checks)."""
    try:
        raw = await asyncio.wait_for(ws.recv(), seconds)
    except TimeoutError:
        return
    raise AssertionError(f"expected no frame for {seconds}s, got {raw!r}")
