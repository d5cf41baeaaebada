"""Load while a fault happens: a bounded publisher, clients that resume, and the tally of both.

publisher = Publisher([service.publisher(service.a)], targets, count=120, rate=12)
clients = [Client(session, lambda: service.a) for session in sessions]
await run_until_delivered(publisher, clients, fault=break_something(), timeout=60)
tally = Tally.of(publisher, clients)      # published, delivered, lost, duplicated
record_fault("broker cut", tally)         # one FAULT line, shown in pytest's summary
"""

import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from tests.integration.harness import TokenClient, UserSession
from tests.integration.harness.stream import StreamFollower

BROADCAST_EVERY = 10
READ_SLICE_SECS = 0.5
RECONNECT_PAUSE_SECS = 0.5
SETTLE_SECS = 1.5
HTTP_ERRORS = (httpx.TransportError,)
CREATE_USERS_SCRIPT = """
import json, os
from django.contrib.auth import get_user_model
ids = {}
for name in json.loads(os.environ["FAULTS_USERNAMES"]):
    user, _ = get_user_model().objects.get_or_create(username=name)
    user.set_password(os.environ["FAULTS_PASSWORD"])
    user.save()
    ids[name] = user.pk
print(json.dumps(ids))
"""

FAULT_LINES: list[str] = []


def create_users(deployment, names: list[str], password: str) -> dict[str, int]:
    """Create (or reset) many users with one manage.py process; return their ids by name."""
    env = deployment.env(FAULTS_USERNAMES=json.dumps(names), FAULTS_PASSWORD=password)
    return json.loads(deployment.manage("shell", "--no-imports", "-c", CREATE_USERS_SCRIPT, env=env).splitlines()[-1])


def create_request(publisher: TokenClient, username: str, title: str) -> str:
    answer = publisher.post_json("/api/v1/requests/", {"title": title, "user": username})
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


@dataclass
class Accepted:
    """One event the service answered 202 for: its id, whose stream it is in (None: everyone), when."""

    id: str
    owner: str | None
    answered_at: float


@dataclass
class Publisher:
    """Publish `count` events at `rate` per second through the REST API, round-robin over `clients`.

    Every BROADCAST_EVERY-th event is an announcement (everyone's stream); the
    others are status events of `requests` ({request id: owner username}) in turn.
    """

    clients: list[TokenClient]
    requests: dict[str, str]
    count: int
    rate: float
    accepted: list[Accepted] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    finished: bool = False

    async def run(self) -> None:
        started = time.monotonic()
        request_ids = list(self.requests)
        for number in range(self.count):
            await asyncio.sleep(max(0.0, started + number / self.rate - time.monotonic()))
            client = self.clients[number % len(self.clients)]
            if number % BROADCAST_EVERY == BROADCAST_EVERY - 1:
                await self._post(client, "/api/v1/broadcasts/", {"title": f"Notice {number}"}, None)
            else:
                request_id = request_ids[number % len(request_ids)]
                # Progress may never decrease (PROTOCOL section 2): every event is another step of "processing".
                body = {"request": request_id, "status": "processing", "message": f"step {number}"}
                await self._post(client, "/api/v1/events/", body, self.requests[request_id])
        self.finished = True

    async def _post(self, client: TokenClient, path: str, body: dict, owner: str | None) -> None:
        try:
            answer = await client.apost_json(path, body)
        except HTTP_ERRORS as exc:
            self.refused.append(f"{path}: {exc.__class__.__name__}")
            return
        if answer.status_code == 202:
            self.accepted.append(Accepted(answer.json()["id"], owner, time.monotonic()))
        else:
            self.refused.append(f"{path}: {answer.status_code} {answer.text[:120]}")

    def expected_for(self, username: str) -> set[str]:
        return {a.id for a in self.accepted if a.owner in (None, username)}


class TimedFollower(StreamFollower):
    """A StreamFollower that also notes when each event arrived."""

    def __init__(self, session: UserSession):
        super().__init__(session)
        self.arrived_at: dict[str, float] = {}
        self.reconnects = 0

    def _record(self, frames) -> None:
        super()._record(frames)
        now = time.monotonic()
        for frame in frames:
            if frame.get("type") == "event":
                self.arrived_at.setdefault(frame["id"], now)


class Client:
    """One socket of one user that reconnects (to `pick_instance()`) and resumes whenever it is dropped."""

    def __init__(self, session: UserSession, pick_instance: Callable[[], object]):
        self.username = session.username
        self.follower = TimedFollower(session)
        self.pick_instance = pick_instance

    async def open(self) -> None:
        await self.follower.connect(self.pick_instance())

    async def follow(self, done: Callable[["Client"], bool], deadline: float) -> None:
        """Read (reconnecting as needed) until `done(self)` or the deadline."""
        while time.monotonic() < deadline and not done(self):
            if self.follower.ws is None:
                await self._reconnect()
                continue
            try:
                await self.follower.read_for(READ_SLICE_SECS)
            except ConnectionClosed:
                self.follower.ws = None

    async def _reconnect(self) -> None:
        try:
            await self.follower.connect(self.pick_instance())
            self.follower.reconnects += 1
        except (OSError, TimeoutError, ConnectionClosed, InvalidHandshake, AssertionError):
            self.follower.ws = None
            await asyncio.sleep(RECONNECT_PAUSE_SECS)

    async def settle(self) -> None:
        """Keep reading a moment after everything arrived, so a late duplicate is counted."""
        if self.follower.ws is not None:
            try:
                await self.follower.read_for(SETTLE_SECS)
            except ConnectionClosed:
                pass
        await self.follower.disconnect()


async def run_until_delivered(
    publisher: Publisher, clients: list[Client], fault: Awaitable[None] | None, timeout: float
) -> None:
    """Publish, run the fault beside it, and follow until every client has its events or `timeout` passes."""
    deadline = time.monotonic() + timeout

    def done(client: Client) -> bool:
        return publisher.finished and publisher.expected_for(client.username) <= set(client.follower.ids)

    publishing = asyncio.ensure_future(publisher.run())
    breaking = asyncio.ensure_future(fault) if fault is not None else None
    try:
        await asyncio.gather(*(client.follow(done, deadline) for client in clients))
        await asyncio.wait_for(publishing, max(1.0, deadline - time.monotonic()))
        if breaking is not None:
            await asyncio.wait_for(breaking, max(1.0, deadline - time.monotonic()))
        await asyncio.gather(*(client.settle() for client in clients))
    finally:
        for task in (publishing, breaking):
            if task is not None and not task.done():
                task.cancel()


@dataclass
class Tally:
    """Published and delivered counts of one fault run (deliveries are per client)."""

    published: int
    expected: int
    delivered: int
    lost: int
    duplicated: int
    unexpected: int
    refused: int
    latency_p50: float
    latency_max: float

    @classmethod
    def of(cls, publisher: Publisher, clients: list[Client]) -> "Tally":
        expected = delivered = lost = duplicated = unexpected = 0
        latencies: list[float] = []
        answered = {a.id: a.answered_at for a in publisher.accepted}
        for client in clients:
            wanted, ids = publisher.expected_for(client.username), client.follower.ids
            expected += len(wanted)
            delivered += len(ids)
            lost += len(wanted - set(ids))
            duplicated += len(ids) - len(set(ids))
            unexpected += len(set(ids) - wanted)
            latencies += [max(0.0, at - answered[i]) for i, at in client.follower.arrived_at.items() if i in answered]
        return cls(
            published=len(publisher.accepted),
            expected=expected,
            delivered=delivered,
            lost=lost,
            duplicated=duplicated,
            unexpected=unexpected,
            refused=len(publisher.refused),
            latency_p50=statistics.median(latencies) if latencies else 0.0,
            latency_max=max(latencies, default=0.0),
        )

    def line(self, name: str, clients: int) -> str:
        return (
            f"FAULT {name}: published={self.published} clients={clients} expected={self.expected} "
            f"delivered={self.delivered} lost={self.lost} duplicated={self.duplicated} "
            f"unexpected={self.unexpected} refused={self.refused} "
            f"latency_p50={self.latency_p50:.2f}s latency_max={self.latency_max:.2f}s"
        )


def record_fault(name: str, publisher: Publisher, clients: list[Client]) -> Tally:
    """Print and keep the run's FAULT line (pytest's summary lists them); return the tally to assert on."""
    tally = Tally.of(publisher, clients)
    line = tally.line(name, len(clients))
    print(line)
    FAULT_LINES.append(line)
    return tally


def assert_exactly_once(tally: Tally) -> None:
    assert tally.published > 0
    assert (tally.lost, tally.duplicated, tally.unexpected) == (0, 0, 0), tally
    assert tally.delivered == tally.expected, tally


async def wait_for_readiness(instance, ready: bool, timeout: float) -> float:
    """Poll /readyz until it says `ready`; return the seconds it took."""
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=instance.url, trust_env=False, timeout=5) as client:
        while time.monotonic() - started < timeout:
            try:
                answer = await client.get("/readyz")
                if (answer.status_code == 200) is ready:
                    return time.monotonic() - started
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.25)
    raise AssertionError(f"{instance.name} /readyz did not become {'ready' if ready else 'unready'} in {timeout}s")
