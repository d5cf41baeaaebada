"""The demo worker's loop: take queued requests and report their progress step by step.

Each tick advances every request in hand by one step (processing 10 %, 20 %,
..., then succeeded, or failed with a reason for a seeded-random few), so
several requests move at once, as real work does. Every step carries an
Idempotency-Key derived from the request and the step, so a step retried
after an outage is stored once.
"""

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from notifications.demo.service_api import ApiRefused, ServiceApi, ServiceUnavailable

logger = logging.getLogger(__name__)

PROGRESS_STEP = 10
MAX_IN_HAND = 5
MIN_RETRY_SECS = 0.5
MAX_RETRY_SECS = 30.0
FAILURE_REASONS = (
    "The upstream system timed out.",
    "The input file could not be parsed.",
    "The payment provider declined the request.",
)
MESSAGES = ("Starting", "Fetching data", "Crunching numbers", "Checking results", "Writing output", "Almost done")


@dataclass
class Step:
    status: str
    progress: int
    message: str


@dataclass
class Job:
    """One request in hand and the steps still to report."""

    request_id: str
    steps: list[Step]
    done: int = field(default=0)

    @property
    def finished(self) -> bool:
        return self.done >= len(self.steps)


def plan_steps(request_id: str, seed: int, failure_rate: float) -> list[Step]:
    """Return the steps for a request; the same request, seed and rate always give the same plan."""
    rng = random.Random(f"{seed}:{request_id}")
    fails_at = rng.randrange(20, 90, PROGRESS_STEP) if rng.random() < failure_rate else None
    steps = []
    for progress in range(PROGRESS_STEP, 100, PROGRESS_STEP):
        if progress == fails_at:
            return [*steps, Step("failed", progress, rng.choice(FAILURE_REASONS))]
        steps.append(Step("processing", progress, MESSAGES[min(progress // 20, len(MESSAGES) - 1)]))
    return [*steps, Step("succeeded", 100, "Done")]


def retry_delay(failures: int, rng: random.Random) -> float:
    """Return how long to wait after `failures` consecutive outages: exponential, capped, jittered."""
    ceiling = min(MAX_RETRY_SECS, MIN_RETRY_SECS * 2 ** max(0, failures - 1))
    return ceiling / 2 + rng.random() * ceiling / 2


class DemoWorker:
    """Drive queued requests to an end through `api`; stop when `stop` is set."""

    def __init__(
        self,
        api: ServiceApi,
        *,
        seed: int = 0,
        failure_rate: float = 0.2,
        step_secs: float = 1.0,
        stop: threading.Event | None = None,
        say: Callable[[str], None] = logger.info,
    ) -> None:
        self.api = api
        self.seed = seed
        self.failure_rate = failure_rate
        self.step_secs = step_secs
        self.stop = stop or threading.Event()
        self.say = say
        self.jobs: dict[str, Job] = {}
        self.failures = 0
        self.rng = random.Random(seed)

    def run(self, *, once: bool = False, max_failures: int | None = None) -> bool:
        """Work until stopped (or, with `once`, until nothing is queued or in hand); return False if given up."""
        while not self.stop.is_set():
            try:
                self.tick()
                self.failures = 0
            except ServiceUnavailable as outage:
                self.failures += 1
                if max_failures is not None and self.failures >= max_failures:
                    self.say(f"giving up after {self.failures} failed attempts: {outage}")
                    return False
                delay = retry_delay(self.failures, self.rng)
                self.say(f"server unavailable ({outage}); retrying in {delay:.1f} s")
                self.stop.wait(delay)
                continue
            if once and not self.jobs:
                return True
            self.stop.wait(self.step_secs)
        return True

    def tick(self) -> None:
        """Take newly queued requests, then report one step of each request in hand."""
        self.take_queued()
        for job in list(self.jobs.values()):
            if self.stop.is_set():
                return
            self.advance(job)

    def take_queued(self) -> None:
        if len(self.jobs) >= MAX_IN_HAND:
            return
        for request in self.api.queued_requests():
            if request["id"] not in self.jobs and len(self.jobs) < MAX_IN_HAND:
                steps = plan_steps(request["id"], self.seed, self.failure_rate)
                self.jobs[request["id"]] = Job(request["id"], steps)
                self.say(f"took {request['title']!r} ({request['id']})")

    def advance(self, job: Job) -> None:
        step = job.steps[job.done]
        key = f"demo-worker:{job.request_id}:{job.done}"
        try:
            self.api.publish(
                job.request_id, step.status, progress=step.progress, message=step.message, idempotency_key=key
            )
        except ApiRefused as refused:
            # 409: someone else finished or cancelled it; 404: it is gone. Either way, drop it.
            self.say(f"dropping {job.request_id}: {refused}")
            del self.jobs[job.request_id]
            return
        job.done += 1
        if job.finished:
            self.say(f"{job.request_id} {step.status}")
            del self.jobs[job.request_id]
