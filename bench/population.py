"""Users, requests and tickets for a benchmark run, made fast (no password hashing, bulk inserts)."""

import asyncio

import httpx

CREATE_USERS = """
import sys
from django.contrib.auth import get_user_model
from notifications.store.actions import do_create_request
User = get_user_model()
names = ["bench%05d" % i for i in range({count})]
User.objects.bulk_create([User(username=n, password="!") for n in names], ignore_conflicts=True)
if {with_requests}:
    for user in User.objects.filter(username__in=names).order_by("username"):
        tracked, _ = do_create_request(user, "Benchmark job")
        print(user.username, tracked.id)
"""


def create_users(deployment, count: int, with_requests: bool) -> dict[str, str | None]:
    """Create `count` users (and one request each when asked); return username -> request id."""
    script = CREATE_USERS.format(count=count, with_requests=with_requests)
    output = deployment.manage("shell", "--no-imports", "-c", script, timeout=600)
    if not with_requests:
        return {f"bench{i:05d}": None for i in range(count)}
    return dict(line.split() for line in output.splitlines() if line.startswith("bench"))


async def issue_tickets(base_url: str, token: str, usernames: list[str], concurrency: int = 16) -> list[str]:
    """Return one single-use WebSocket ticket per user, asked for by the service as a backend would."""
    gate = asyncio.Semaphore(concurrency)
    headers = {"Authorization": f"Token {token}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30, trust_env=False) as http:

        async def one(username: str) -> str:
            async with gate:
                answer = await http.post("/api/v1/ws-tickets/", json={"user": username})
                answer.raise_for_status()
                return answer.json()["ticket"]

        return await asyncio.gather(*(one(name) for name in usernames))
