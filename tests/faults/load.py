"""Load while a fault happens: a bounded publisher, clients that resume, and the tally of both.

publisher = Publisher([service.publisher(service.a)], targets, count=120, rate=12)
publisher = Publisher(tokens, targets, count=120, rate=12, batch_every=4, retries=3)  # batches too; retried by key
clients = [Client(session, lambda: service.a) for session in sessions]
await run_until_delivered(publisher, clients, fault=break_something(), timeout=60)
tally = Tally.of(publisher, clients)      # published, delivered, lost, duplicated
record_fault("broker cut", tally)         # one FAULT line, shown in pytest's summary
"""

import asyncio
import json
import secrets
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from tests.integration.harness import TokenClient, UserSession
from tests.integration.harness.stream import StreamFollower

BROADCAST_EVERY = 10
BATCH_SIZE = 4
RETRY_PAUSE_SECS = 0.5
RETRIED_STATUSES = (502, 503, 504)  # a proxy or an instance going away; the key makes the retry safe
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
    """One event the service answered 202 for: its id, whose stream it is in (None: everyone), when, how sent."""

    id: str
    owner: str | None
    answered_at: float
    batched: bool = False


@dataclass
class Publisher:
    """Publish `count` POSTs at `rate` per second through the REST API, round-robin over `clients`.

    Every BROADCAST_EVERY-th POST is an announcement (everyone's stream); with
    `batch_every`, every `batch_every`-th of the others is one batch of
    BATCH_SIZE status events of successive requests (`/events/batch/`); the
    rest are single status events of `requests` ({request id: owner username})
    in turn. With `retries`, each POST carries an Idempotency-Key and a
    transport error or a 502-504 is retried on the next client with the same
    key, as a careful service does: the retry answers the first answer.
    """

    clients: list[TokenClient]
    requests: dict[str, str]
    count: int
    rate: float
    batch_every: int = 0
    retries: int = 0
    accepted: list[Accepted] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    retried: int = 0
    finished: bool = False
    _expected: dict[str, set[str]] = field(default_factory=dict, repr=False)
    _expected_of: int = -1

    async def run(self) -> None:
        started = time.monotonic()
        for number in range(self.count):
            await asyncio.sleep(max(0.0, started + number / self.rate - time.monotonic()))
            await self._post(number, *self.next_post(number))
        self.finished = True

    def next_post(self, number: int) -> tuple[str, dict, list[str | None]]:
        """Return POST number `number`: its path, its body and the owner of each event it stores (None: all)."""
        if number % BROADCAST_EVERY == BROADCAST_EVERY - 1:
            return "/api/v1/broadcasts/", {"title": f"Notice {number}"}, [None]
        statuses = number - number // BROADCAST_EVERY  # status POSTs so far, this one included
        size = BATCH_SIZE if self.batch_every and statuses % self.batch_every == 0 else 1
        request_ids = list(self.requests)
        picked = [request_ids[(number + k) % len(request_ids)] for k in range(size)]
        # Progress may never decrease (PROTOCOL section 2): every event is another step of "processing".
        events = [{"request": r, "status": "processing", "message": f"step {number}.{k}"} for k, r in enumerate(picked)]
        owners = [self.requests[r] for r in picked]
        if size == 1:
            return "/api/v1/events/", events[0], owners
        return "/api/v1/events/batch/", {"events": events}, owners

    async def _post(self, number: int, path: str, body: dict, owners: list[str | None]) -> None:
        headers = {"Idempotency-Key": f"load-{secrets.token_hex(8)}"} if self.retries else None
        for attempt in range(self.retries + 1):
            client = self.clients[(number + attempt) % len(self.clients)]
            last = attempt == self.retries
            try:
                answer = await client.apost_json(path, body, headers=headers)
            except HTTP_ERRORS as exc:
                if last:
                    self.refused.append(f"{path}: {exc.__class__.__name__}")
                    return
            else:
                if answer.status_code == 202:
                    return self._accept(answer.json(), owners)
                if last or answer.status_code not in RETRIED_STATUSES:
                    self.refused.append(f"{path}: {answer.status_code} {answer.text[:120]}")
                    return
            self.retried += 1
            await asyncio.sleep(RETRY_PAUSE_SECS)

    def _accept(self, body: dict, owners: list[str | None]) -> None:
        stored = body["events"] if "events" in body else [body]
        now = time.monotonic()
        for event, owner in zip(stored, owners, strict=True):
            self.accepted.append(Accepted(event["id"], owner, now, batched=len(stored) > 1))

    def expected_for(self, username: str) -> set[str]:
        """Return the ids of the accepted events `username`'s sockets must get (cached until more are accepted)."""
        if self._expected_of != len(self.accepted):
            self._expected, self._expected_of = {}, len(self.accepted)
        if username not in self._expected:
            self._expected[username] = {a.id for a in self.accepted if a.owner in (None, username)}
        return self._expected[username]


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

    @property
    def ids(self) -> list[str]:
        return self.follower.ids

    @property
    def arrived_at(self) -> dict[str, float]:
        return self.follower.arrived_at

    @property
    def reconnects(self) -> int:
        return self.follower.reconnects

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
        return publisher.finished and publisher.expected_for(client.username) <= set(client.ids)

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
    """Published and delivered counts of one fault run (deliveries are per client).

    A client is anything with `username`, `ids` (every event id received, in
    order, repeats included) and `arrived_at` ({id: first arrival}).
    """

    published: int
    batched: int
    expected: int
    delivered: int
    lost: int
    duplicated: int
    unexpected: int
    refused: int
    latency_p50: float
    latency_p99: float
    latency_max: float

    @classmethod
    def of(cls, publisher: Publisher, clients: list) -> "Tally":
        expected = delivered = lost = duplicated = unexpected = 0
        latencies: list[float] = []
        answered = {a.id: a.answered_at for a in publisher.accepted}
        for client in clients:
            wanted, ids = publisher.expected_for(client.username), client.ids
            expected += len(wanted)
            delivered += len(ids)
            lost += len(wanted - set(ids))
            duplicated += len(ids) - len(set(ids))
            unexpected += len(set(ids) - wanted)
            latencies += [max(0.0, at - answered[i]) for i, at in client.arrived_at.items() if i in answered]
        return cls(
            published=len(publisher.accepted),
            batched=sum(a.batched for a in publisher.accepted),
            expected=expected,
            delivered=delivered,
            lost=lost,
            duplicated=duplicated,
            unexpected=unexpected,
            refused=len(publisher.refused),
            latency_p50=statistics.median(latencies) if latencies else 0.0,
            latency_p99=percentile(latencies, 99),
            latency_max=max(latencies, default=0.0),
        )

    def line(self, name: str, clients: int) -> str:
        return (
            f"FAULT {name}: published={self.published} batched={self.batched} clients={clients} "
            f"expected={self.expected} delivered={self.delivered} lost={self.lost} duplicated={self.duplicated} "
            f"unexpected={self.unexpected} refused={self.refused} latency_p50={self.latency_p50:.2f}s "
            f"latency_p99={self.latency_p99:.2f}s latency_max={self.latency_max:.2f}s"
        )


def percentile(values: list[float], pct: float) -> float:
    """Return the `pct`-th percentile of `values` (nearest rank; 0 for none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


def record_fault(name: str, publisher: Publisher, clients: list) -> Tally:
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
