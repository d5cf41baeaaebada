"""Light resuming sockets for a thousand clients in one test process: resume, count, back off on 1013.

Each `LightClient` is one socket of one signed-in user, following the
protocol's rules as the JavaScript client does (PROTOCOL section 1): keep
the last cursor, send `resume` on every connect; reconnect, to
`pick_instance()`, at once when an open socket closes; when a connect is
closed with 1013 (the instance sheds connects) back off exponentially with
jitter, when it fails otherwise retry after a short jittered pause. It
records only what a tally needs (`ids`, `arrived_at`) and the moves:
connects, sheds, close codes, when each close and each completed resume
happened.

    clients = [LightClient(name, cookie, lambda: b) for ...]
    await open_all(clients, deadline)
    await run_until_delivered(publisher, clients, fault, timeout=120)   # tests/faults/load.py
"""

import asyncio
import bisect
import json
import random
import time
from collections import Counter
from collections.abc import Callable

from websockets.exceptions import ConnectionClosed, InvalidHandshake

from tests.integration.harness import connect_ws

CLOSE_TRY_AGAIN_LATER = 1013
READ_SLICE_SECS = 0.5
SETTLE_SECS = 1.5
CONNECT_TIMEOUT_SECS = 20.0
SHED_FIRST_BACKOFF_SECS = 0.5
SHED_MAX_BACKOFF_SECS = 8.0
RECONNECT_PAUSE_SECS = (0.1, 0.6)
OPEN_AT_ONCE = 100  # handshakes in flight while opening, so none times out on two cores
CONNECT_ERRORS = (OSError, TimeoutError, InvalidHandshake, ConnectionClosed, ValueError, KeyError)


class LightClient:
    """One user's resuming socket that only counts what arrives and how it moved."""

    def __init__(self, username: str, cookie: str, pick_instance: Callable[[], object]):
        self.username = username
        self.cookie = cookie
        self.pick_instance = pick_instance
        self.ids: list[str] = []
        self.arrived_at: dict[str, float] = {}
        self.cursor: str | None = None
        self.out_of_order = 0
        self.ws = None
        self.connects = 0  # resumes completed (`replayed` seen)
        self.sheds = 0  # connects closed at once with 1013
        self.failures: Counter[str] = Counter()  # failed connects, by close code or error
        self.closes: Counter[int | None] = Counter()  # open sockets closed under us, by close code (None: no frame)
        self.closed_at: list[float] = []  # when an open socket was closed under us
        self.resumed_at: list[float] = []  # when each resume completed
        self._shed_streak = 0

    @property
    def reconnects(self) -> int:
        return max(0, self.connects - 1)

    # --- connecting ----------------------------------------------------------------

    async def connect(self) -> bool:
        """Try one connect and resume; on failure wait as the close asks (1013: back off) and return False."""
        try:
            await asyncio.wait_for(self._connect_and_resume(), CONNECT_TIMEOUT_SECS)
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd is not None else None
            self.failures[f"closed {code}"] += 1
            await self._drop()
            await self._pause(code)
            return False
        except CONNECT_ERRORS as exc:
            self.failures[type(exc).__name__] += 1
            await self._drop()
            await self._pause(None)
            return False
        self._shed_streak = 0
        self.connects += 1
        self.resumed_at.append(time.monotonic())
        return True

    async def _connect_and_resume(self) -> None:
        self.ws = await connect_ws(self.pick_instance(), headers={"Cookie": self.cookie})
        welcome = json.loads(await self.ws.recv())
        if welcome.get("type") != "welcome":
            raise ValueError(f"expected welcome, got {welcome.get('type')}")
        if self.cursor is None:
            self.cursor = welcome["cursor"]
        await self.ws.send(json.dumps({"type": "resume", "cursor": self.cursor}))
        while (frame := json.loads(await self.ws.recv())).get("type") != "replayed":
            self._record(frame)

    async def _pause(self, close_code: int | None) -> None:
        if close_code == CLOSE_TRY_AGAIN_LATER:
            self.sheds += 1
            ceiling = min(SHED_MAX_BACKOFF_SECS, SHED_FIRST_BACKOFF_SECS * 2**self._shed_streak)
            self._shed_streak += 1
            await asyncio.sleep(ceiling * random.uniform(0.5, 1.0))
        else:
            await asyncio.sleep(random.uniform(*RECONNECT_PAUSE_SECS))

    async def _drop(self) -> None:
        ws, self.ws = self.ws, None
        if ws is not None:
            try:
                await asyncio.wait_for(ws.close(), 2)
            except (ConnectionClosed, TimeoutError, OSError):
                pass

    # --- reading ---------------------------------------------------------------------

    def _record(self, frame: dict) -> None:
        if frame.get("type") != "event":
            return
        if self.cursor is not None and frame["cursor"] <= self.cursor:
            self.out_of_order += 1
        self.ids.append(frame["id"])
        self.arrived_at.setdefault(frame["id"], time.monotonic())
        self.cursor = frame["cursor"]

    async def follow(self, done: Callable[["LightClient"], bool], deadline: float) -> None:
        """Read (reconnecting as needed) until `done(self)` or the deadline."""
        while time.monotonic() < deadline and not done(self):
            if self.ws is None:
                await self.connect()
                continue
            await self._read_for(READ_SLICE_SECS)

    async def _read_for(self, seconds: float) -> None:
        try:
            async with asyncio.timeout(seconds):
                while True:
                    self._record(json.loads(await self.ws.recv()))
        except TimeoutError:
            return
        except ConnectionClosed as closed:
            self.closes[closed.rcvd.code if closed.rcvd is not None else None] += 1
            self.closed_at.append(time.monotonic())
            self.ws = None

    async def settle(self) -> None:
        """Keep reading a moment after everything arrived, so a late duplicate is counted; then close."""
        if self.ws is not None:
            await self._read_for(SETTLE_SECS)
        await self._drop()


async def open_all(clients: list[LightClient], timeout: float) -> None:
    """Connect every client, OPEN_AT_ONCE handshakes at a time, each retried (1013: backing off) until `timeout`."""
    deadline = time.monotonic() + timeout
    at_once = asyncio.Semaphore(OPEN_AT_ONCE)

    async def open_one(client: LightClient) -> None:
        async with at_once:
            while not await client.connect():
                assert time.monotonic() < deadline, f"{client.username} could not connect within {timeout}s"

    await asyncio.gather(*(open_one(client) for client in clients))


def moved_after(clients: list[LightClient], since: float) -> list[float]:
    """Return, for each client closed at or after `since`, the seconds from `since` to its next completed resume."""
    moves = []
    for client in clients:
        if any(at >= since for at in client.closed_at):
            resumed = [at for at in client.resumed_at if at >= since]
            moves.append(resumed[0] - since if resumed else float("inf"))
    return moves


def connect_rate(clients: list[LightClient], since: float) -> tuple[int, int]:
    """Return (resumes completed since `since`, their highest count in any one second)."""
    times = sorted(at for client in clients for at in client.resumed_at if at >= since)
    peak = max((bisect.bisect_left(times, at + 1.0) - n for n, at in enumerate(times)), default=0)
    return len(times), peak


def failures_of(clients: list[LightClient]) -> Counter[str]:
    """Return every client's failed connects added up, by close code or error."""
    return sum((client.failures for client in clients), Counter())


def closes_of(clients: list[LightClient]) -> Counter[int | None]:
    """Return how the clients' open sockets were closed, added up by close code (None: without a close frame)."""
    return sum((client.closes for client in clients), Counter())
