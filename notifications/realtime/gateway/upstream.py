"""Call a configured upstream service over HTTP for a socket's `request` frame (PROTOCOL section 5.1).

One pooled httpx client per process (closed when the hub drains at
shutdown). The whole exchange, connection to last byte, is bounded by
NOTIFY_GATEWAY_TIMEOUT_SECS (504), the body by the frame size limit (413,
read in chunks and dropped past the limit, never buffered whole); a refused
or broken connection answers 502. Redirects are passed through, not followed.
"""

import asyncio
import logging

import httpx

from notifications import conf
from notifications.protocol.gateway import Answer, GatewayRequest, parse_body
from notifications.realtime.gateway import signing

logger = logging.getLogger(__name__)

BAD_GATEWAY = 502
GATEWAY_TIMEOUT = 504
TOO_LARGE = 413
MAX_CONNECTIONS = 100


class ResponseTooLarge(Exception):
    """The upstream's body is larger than a frame may carry."""


_client: tuple[asyncio.AbstractEventLoop, httpx.AsyncClient] | None = None


def get_client() -> httpx.AsyncClient:
    """Return this process's pooled client (one per event loop: a test's loop gets its own)."""
    global _client
    loop = asyncio.get_running_loop()
    if _client is None or _client[0] is not loop or _client[1].is_closed:
        limits = httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS // 5)
        _client = (loop, httpx.AsyncClient(limits=limits, timeout=None, follow_redirects=False, trust_env=False))
    return _client[1]


async def close_client() -> None:
    """Close the pooled client, if one was opened (the hub's drain calls this at shutdown)."""
    global _client
    if _client is not None:
        (loop, client), _client = _client, None
        if loop is asyncio.get_running_loop():  # a client of a loop that ended is dropped with it
            await client.aclose()


def url_of(base_url: str, path: str) -> str:
    """Return the upstream URL: the frame's path, with its query, appended to the base URL's path."""
    return base_url.rstrip("/") + path


async def call(request: GatewayRequest, base_url: str, username: str, limit: int) -> Answer:
    """Return the upstream's answer to `request` as `username`, or 502, 504 or 413 as section 5.1 says."""
    headers = {
        "Authorization": f"Bearer {signing.sign(signing.get_signing_key(), username, request.service)}",
        "Content-Type": "application/json",
        "Accept": "application/json",
        **request.headers,
    }
    try:
        async with asyncio.timeout(conf.gateway_timeout_secs()):
            return await _exchange(request, url_of(base_url, request.path), headers, limit)
    except (TimeoutError, httpx.TimeoutException):
        return Answer.detail(GATEWAY_TIMEOUT, f"{request.service} did not answer in time")
    except ResponseTooLarge:
        return Answer.detail(TOO_LARGE, f"{request.service} answered more than a frame may carry ({limit} bytes)")
    except (httpx.HTTPError, OSError) as exc:
        logger.info("upstream call failed: %s", type(exc).__name__, extra=_log(request))
        return Answer.detail(BAD_GATEWAY, f"{request.service} could not be reached")


async def _exchange(request: GatewayRequest, url: str, headers: dict, limit: int) -> Answer:
    client = get_client()
    async with client.stream(request.method, url, headers=headers, content=request.content) as response:
        content = await read_bounded(response, limit)
        return Answer(response.status_code, parse_body(content, response.headers.get("content-type", "")))


async def read_bounded(response: httpx.Response, limit: int) -> bytes:
    """Return the body of `response`; raise ResponseTooLarge as soon as it passes `limit` bytes."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ResponseTooLarge()
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise ResponseTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


def _log(request: GatewayRequest) -> dict:
    return {"event": "gateway.upstream_failed", "service": request.service, "method": request.method}
