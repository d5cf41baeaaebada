"""Reading presence the way an operator does: GET /api/v1/presence/ as staff, until a condition holds."""

import asyncio
import time
from collections.abc import Callable

from .harness import UserSession

POLL_SECS = 0.2


def per_instance(snapshot: dict) -> dict[str, int]:
    return {row["name"]: row["connections"] for row in snapshot["instances"]}


async def wait_for_presence(staff: UserSession, condition: Callable[[dict], bool], timeout: float) -> dict:
    """Return the first presence snapshot for which `condition` holds; fail with the last one after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        answer = await staff.aget("/api/v1/presence/")
        assert answer.status_code == 200, answer.text
        snapshot = answer.json()
        if condition(snapshot):
            return snapshot
        if time.monotonic() > deadline:
            raise AssertionError(f"presence never matched within {timeout}s; last: {snapshot}")
        await asyncio.sleep(POLL_SECS)
