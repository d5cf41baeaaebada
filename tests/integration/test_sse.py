"""Server-Sent Events (PROTOCOL section 4.4) on real daphne instances on RabbitMQ, read raw with httpx."""

import asyncio
import json
import time

import httpx
import pytest

from .harness import TokenClient, UserSession
from .presence_client import wait_for_presence
from .test_fanout import create_request, report

STREAM_PATH = "/api/v1/stream/"
READ_TIMEOUT_SECS = 10.0
PASSWORD = "correct-horse-battery"


class RawStream:
    """An open `GET /api/v1/stream/` read line by line: every block (event or comment) as its raw lines."""

    def __init__(self, response: httpx.Response):
        self.response = response
        self.lines = response.aiter_lines()

    async def block(self, timeout: float = READ_TIMEOUT_SECS) -> list[str]:
        """Return the raw lines of the next block, up to the blank line that ends it."""
        lines: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            line = await asyncio.wait_for(anext(self.lines), max(0.1, deadline - time.monotonic()))
            if line == "" and lines:
                return lines
            if line:
                lines.append(line)

    async def message(self, timeout: float = READ_TIMEOUT_SECS) -> dict:
        """Return the next dispatched message as {"id", "event", "data" (decoded)}, skipping comments."""
        while True:
            fields = parse_block(await self.block(timeout))
            if "data" in fields:
                return fields


def parse_block(lines: list[str]) -> dict:
    fields: dict = {}
    for line in lines:
        name, _, value = line.partition(": ")
        if name == "data":
            fields["data"] = json.loads(value)
        elif name:
            fields[name] = value
    return fields


def stream_client(session: UserSession, instance) -> httpx.AsyncClient:
    """Return an async client with the session's cookies for `instance` (cookies ignore ports)."""
    return httpx.AsyncClient(
        base_url=instance.url, cookies=session.http.cookies, timeout=httpx.Timeout(10, read=None), trust_env=False
    )


@pytest.fixture
def sse_service(deployment):
    """Two instances A and B on the broker with a one-second heartbeat, users ada and staff boss, a token."""
    env = {"NOTIFY_HEARTBEAT_SECS": "1", "NOTIFY_PRESENCE_TIMEOUT_SECS": "5"}
    a, b = deployment.instance("A", env=env), deployment.instance("B", env=env)
    deployment.create_user("ada", PASSWORD)
    deployment.create_user("boss", PASSWORD, staff=True)
    token = deployment.create_service_token("worker", "publish", "broadcast")
    return a, b, UserSession(a, "ada", PASSWORD).login(), UserSession(a, "boss", PASSWORD).login(), token


async def test_the_raw_wire_format_headers_welcome_events_and_heartbeat(sse_service):
    """On B: the headers of 4.4, `event: welcome` first, each event as id/event/data lines, a comment each second."""
    a, b, ada, _, token = sse_service
    async with stream_client(ada, b) as client, client.stream("GET", STREAM_PATH) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        stream = RawStream(response)
        welcome_lines = await stream.block()
        assert welcome_lines[0] == "event: welcome" and welcome_lines[1].startswith("data: {")
        welcome = parse_block(welcome_lines)["data"]
        assert set(welcome) == {"type", "user", "connection_id", "cursor", "heartbeat", "server_time"}
        assert welcome["heartbeat"] == 1
        with TokenClient(a, token) as publisher:
            request_id = await asyncio.to_thread(create_request, publisher, "ada", "Export")
            await asyncio.to_thread(report, publisher, request_id, "processing", 30, message="line one\nline two")
        comments = 0
        events = []
        while len(events) < 2 or comments < 1:
            lines = await stream.block()
            if lines[0].startswith(":"):
                comments += 1
                continue
            assert [line.split(": ", 1)[0] for line in lines] == ["id", "event", "data"]
            events.append(parse_block(lines))
        assert [e["event"] for e in events] == ["request.status", "request.status"]
        assert all(e["id"] == e["data"]["cursor"] and e["data"]["type"] == "event" for e in events)
        assert events[1]["data"]["message"] == "line one\nline two"
        assert events[0]["id"] > welcome["cursor"] and events[1]["id"] > events[0]["id"]


async def test_refusals_before_the_stream_401_403_400_with_json_bodies(sse_service):
    """No session 401; a foreign Origin 403; a cursor the server never issued 400; each a JSON detail."""
    a, _, ada, _, _ = sse_service
    async with httpx.AsyncClient(base_url=a.url, trust_env=False, timeout=10) as anonymous:
        answer = await anonymous.get(STREAM_PATH)
        assert answer.status_code == 401 and "detail" in answer.json()
    async with stream_client(ada, a) as client:
        foreign = await client.get(STREAM_PATH, headers={"Origin": "https://evil.example"})
        assert foreign.status_code == 403 and "detail" in foreign.json()
        bad = await client.get(STREAM_PATH, params={"cursor": "not-a-cursor"})
        assert bad.status_code == 400 and "cursor" in bad.json()["detail"]
        bad_header = await client.get(STREAM_PATH, headers={"Last-Event-ID": "z" * 24})
        assert bad_header.status_code == 400


async def test_last_event_id_resumes_on_the_other_instance_and_a_gone_client_leaves_presence(sse_service):
    """Events published while away arrive after Last-Event-ID, in order and once; a closed stream leaves presence."""
    a, b, ada, boss, token = sse_service
    publisher = TokenClient(a, token)
    request_id = await asyncio.to_thread(create_request, publisher, "ada", "Import")
    async with stream_client(ada, a) as client, client.stream("GET", STREAM_PATH, params={"cursor": "0" * 24}) as r:
        first = RawStream(r)
        await first.message()
        queued = await first.message()
        await wait_for_presence(boss, lambda s: s["connections"] == 1, timeout=10)
    await wait_for_presence(boss, lambda s: s["connections"] == 0, timeout=10)
    for progress in (10, 20, 30):
        await asyncio.to_thread(report, publisher, request_id, "processing", progress)
    headers = {"Last-Event-ID": queued["id"]}
    async with stream_client(ada, b) as client, client.stream("GET", STREAM_PATH, headers=headers) as r:
        again = RawStream(r)
        assert (await again.message())["event"] == "welcome"
        replayed = [await again.message() for _ in range(3)]
        assert [m["data"]["request"]["progress"] for m in replayed] == [10, 20, 30]
        await asyncio.to_thread(report, publisher, request_id, "succeeded")
        live = await again.message()
        assert live["data"]["request"]["status"] == "succeeded"
    publisher.close()


async def test_logout_sends_session_ended_and_the_reconnect_gets_401(sse_service):
    """Signing out on A ends the stream held by B with `event: session-ended`; the same cookie then gets 401."""
    a, b, ada, _, _ = sse_service
    async with stream_client(ada, b) as client:
        async with client.stream("GET", STREAM_PATH) as response:
            stream = RawStream(response)
            await stream.message()
            await asyncio.to_thread(ada.logout)
            ended = await stream.message()
            assert ended["event"] == "session-ended"
            with pytest.raises(StopAsyncIteration):
                await stream.block()
        assert (await client.get(STREAM_PATH)).status_code == 401


async def test_sigterm_ends_the_stream_with_a_short_retry_so_event_source_moves_on(sse_service):
    """A stopping instance (SIGTERM) ends its streams after `retry: 1000`, not with a session end."""
    a, _, ada, _, _ = sse_service
    async with stream_client(ada, a) as client, client.stream("GET", STREAM_PATH) as response:
        stream = RawStream(response)
        await stream.message()
        stopping = asyncio.create_task(asyncio.to_thread(a.terminate))
        lines = await stream.block()
        while lines[0].startswith(":"):
            lines = await stream.block()
        assert lines == ["retry: 1000"]
        with pytest.raises(StopAsyncIteration):
            await stream.block()
        await stopping
