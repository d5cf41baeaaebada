"""The publishers: backend services calling the instances, at a set rate or as fast as they go."""

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable

import httpx

STATUS_PATH = "/api/v1/events/"
BATCH_PATH = "/api/v1/events/batch/"

# Given the items of one call, return its path and httpx keyword arguments.
CallBuilder = Callable[[list], tuple[str, dict]]


async def post_at_rate(base_url: str, path: str, count: int, rate: float, body, headers: dict) -> float:
    """POST `count` bodies at `rate` a second (each at its own time, concurrently); return the start time."""
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60, trust_env=False) as http:
        started = time.time()

        async def one(i: int) -> None:
            await asyncio.sleep(max(0.0, started + i / rate - time.time()))
            answer = await http.post(path, **body(i))
            assert answer.status_code in (200, 202), answer.text

        await asyncio.gather(*(one(i) for i in range(count)))
    return started


async def post_as_fast(
    base_urls: list[str], headers: dict, calls: list[list], workers: int, build: CallBuilder
) -> tuple[float, list[float]]:
    """Make every call with `workers` concurrent publishers spread over the instances.

    Each entry of `calls` holds the items of one call; `build` turns them into
    the request when it is sent. Return the start time and each call's seconds.
    """
    pending = deque(calls)
    timings: list[float] = []
    clients = [httpx.AsyncClient(base_url=url, headers=headers, timeout=60, trust_env=False) for url in base_urls]

    async def worker(http: httpx.AsyncClient) -> None:
        while pending:
            path, request = build(pending.popleft())
            before = time.monotonic()
            answer = await http.post(path, **request)
            timings.append(time.monotonic() - before)
            assert answer.is_success, answer.text

    started = time.time()
    try:
        await asyncio.gather(*(worker(clients[i % len(clients)]) for i in range(workers)))
    finally:
        await asyncio.gather(*(http.aclose() for http in clients))
    return started, timings


def in_calls(items: list, per_call: int) -> list[list]:
    return [items[i : i + per_call] for i in range(0, len(items), per_call)]


def status_call(bodies: list[dict]) -> tuple[str, dict]:
    """One status event to `POST /api/v1/events/`, or several to `/events/batch/`, stamped with the send time."""
    sent_at = repr(time.time())
    for body in bodies:
        body["message"] = sent_at
    if len(bodies) == 1:
        return STATUS_PATH, {"json": bodies[0]}
    return BATCH_PATH, {"json": {"events": bodies}}


def naive_call(messages: list[tuple[str, int]]) -> tuple[str, dict]:
    """One message to the naive forwarder's group, stamped with the send time."""
    [(group, number)] = messages
    return f"/publish?group={group}", {"content": json.dumps({"id": number, "t": time.time()})}


def announcement(i: int) -> dict:
    return {"json": {"title": f"bench {i}", "body": repr(time.time())}}


def naive_announcement(i: int) -> dict:
    return {"content": json.dumps({"id": i, "t": time.time()})}
