"""Concurrent publishers and clients that come and go: every event, exactly once, in order."""

import asyncio
import random

from .harness.stream import StreamFollower
from .test_fanout import create_request

PUBLISHERS = 4
EVENTS_EACH = 12


async def publish_steps(publisher, request_id: str) -> list[str]:
    ids = []
    for step in range(1, EVENTS_EACH + 1):
        body = {"request": request_id, "status": "processing", "progress": step}
        answer = await publisher.apost_json("/api/v1/events/", body)
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["id"])
    return ids


async def come_and_go(follower: StreamFollower, instances, publishing: asyncio.Task, rng: random.Random) -> None:
    """Reconnect to a random instance again and again, resuming each time, until publishing ends."""
    while not publishing.done():
        await follower.connect(rng.choice(instances))
        await follower.read_for(rng.uniform(0.1, 0.8))
        await follower.disconnect()
        await asyncio.sleep(rng.uniform(0, 0.3))


async def test_clients_resuming_at_arbitrary_moments_see_every_event_exactly_once(service):
    """Four publishers post to one user through both instances while three clients keep reconnecting."""
    instances = [service.a, service.b]
    publishers = [service.publisher(instances[i % 2]) for i in range(PUBLISHERS)]
    request_ids = [create_request(publishers[0], "ada", f"Job {i}") for i in range(PUBLISHERS)]
    followers = [StreamFollower(service.session("ada")) for _ in range(3)]
    for follower in followers:
        follower.cursor = "0" * 24

    publishing = asyncio.ensure_future(
        asyncio.gather(*(publish_steps(p, r) for p, r in zip(publishers, request_ids, strict=True)))
    )
    rng = random.Random(7)
    await asyncio.gather(*(come_and_go(f, instances, publishing, rng) for f in followers))
    published = [event_id for ids in await publishing for event_id in ids]
    total = PUBLISHERS + len(published)

    for follower in followers:
        await follower.connect(rng.choice(instances))
        await follower.read_until_count(total, timeout=20)
        await follower.read_for(1)
        await follower.disconnect()
        assert len(follower.ids) == len(set(follower.ids)) == total
        assert set(published) <= set(follower.ids)
        for request_id in request_ids:
            progress = [e["request"]["progress"] for e in follower.events if e["request"]["id"] == request_id]
            assert progress == list(range(0, EVENTS_EACH + 1)), "one request's events out of order"
    for publisher in publishers:
        publisher.close()
