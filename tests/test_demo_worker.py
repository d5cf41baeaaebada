"""The demo worker: its plans, its steps over the API, outages and stopping."""

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from notifications.demo.service_api import ApiRefused, ServiceUnavailable
from notifications.demo.worker import DemoWorker, plan_steps, retry_delay

PROJECT_DIR = Path(__file__).resolve().parents[1]


class FakeApi:
    """The worker's view of the server: queued requests in, published steps out."""

    def __init__(self, queued: list[str], *, refuse: dict[str, int] | None = None, outages: int = 0):
        self.queued = [{"id": rid, "title": rid, "status": "queued", "created_at": rid} for rid in queued]
        self.refuse = refuse or {}
        self.outages = outages
        self.published: list[tuple[str, str, int, str]] = []

    def queued_requests(self) -> list[dict]:
        if self.outages:
            self.outages -= 1
            raise ServiceUnavailable("connection refused")
        taken = {rid for rid, *_ in self.published}
        return [r for r in self.queued if r["id"] not in taken]

    def publish(self, request_id, status, *, idempotency_key, progress, message):
        if request_id in self.refuse:
            raise ApiRefused(self.refuse[request_id], "refused")
        self.published.append((request_id, status, progress, idempotency_key))


def test_a_plan_counts_up_by_ten_and_ends_in_success_without_failures():
    """With failure rate 0 every request goes 10, 20, ... 90 %, then succeeded at 100 %."""
    steps = plan_steps("r1", seed=1, failure_rate=0)
    assert [s.progress for s in steps] == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    assert [s.status for s in steps] == ["processing"] * 9 + ["succeeded"]


def test_a_plan_is_seeded_and_failures_carry_a_reason():
    """The same seed gives the same plan; with failure rate 1 every request fails midway, saying why."""
    assert plan_steps("r1", seed=7, failure_rate=0.5) == plan_steps("r1", seed=7, failure_rate=0.5)
    failing = plan_steps("r1", seed=7, failure_rate=1)
    assert failing[-1].status == "failed" and failing[-1].message and 20 <= failing[-1].progress < 90


def test_once_drives_every_queued_request_to_its_end_with_one_key_per_step():
    """--once: all queued requests advance together and finish; each step has its own Idempotency-Key."""
    api = FakeApi(["a", "b"])
    assert DemoWorker(api, failure_rate=0, step_secs=0).run(once=True)
    for rid in ("a", "b"):
        steps = [p for p in api.published if p[0] == rid]
        assert steps[-1][1:3] == ("succeeded", 100) and len(steps) == 10
    keys = [p[3] for p in api.published]
    assert len(set(keys)) == len(keys)


def test_a_refused_request_is_dropped_and_the_others_go_on():
    """A 409 (already finished or cancelled elsewhere) drops that request only."""
    api = FakeApi(["gone", "ok"], refuse={"gone": 409})
    assert DemoWorker(api, failure_rate=0, step_secs=0).run(once=True)
    assert {p[0] for p in api.published} == {"ok"}


def test_an_outage_is_retried_and_once_gives_up_after_a_bound():
    """While the server is down the worker backs off and retries; --once stops trying after max_failures."""
    recovering = FakeApi(["a"], outages=2)
    worker = DemoWorker(recovering, failure_rate=0, step_secs=0)
    worker.stop.wait = lambda secs: False  # no real waiting in a unit test
    assert worker.run(once=True, max_failures=5)
    assert recovering.published[-1][1] == "succeeded"
    down = FakeApi(["a"], outages=100)
    worker = DemoWorker(down, step_secs=0)
    worker.stop.wait = lambda secs: False
    assert worker.run(once=True, max_failures=3) is False


def test_retry_delays_grow_and_stay_capped():
    import random

    rng = random.Random(0)
    delays = [retry_delay(n, rng) for n in range(1, 12)]
    assert delays[0] <= 0.5 and max(delays) <= 30 and delays[-1] >= 15


def test_a_stop_request_ends_the_loop_between_steps():
    """Setting the stop event (what SIGTERM does) ends run() even with work left."""
    stop = threading.Event()
    api = FakeApi(["a"])
    worker = DemoWorker(api, failure_rate=0, step_secs=0, stop=stop)
    api.publish = lambda *args, **kwargs: stop.set()
    assert worker.run() is True


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_the_command_exits_cleanly_on_a_signal_while_the_server_is_down(tmp_path, signum):
    """`manage.py demo_worker` with no server keeps retrying, and stops with exit 0 on SIGTERM or SIGINT."""
    token = tmp_path / "token"
    token.write_text("not-a-real-token\n")
    command = [sys.executable, "manage.py", "demo_worker", "--url", "http://127.0.0.1:9", "--token-file", str(token)]
    worker = subprocess.Popen(
        command, cwd=PROJECT_DIR, env={**os.environ}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    output = ""
    for line in worker.stdout:
        output += line
        if "retrying in" in line:
            break
    worker.send_signal(signum)
    rest, _ = worker.communicate(timeout=15)
    assert worker.returncode == 0, output + rest
    assert "stopped" in rest
