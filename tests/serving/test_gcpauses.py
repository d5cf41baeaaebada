"""Garbage-collector tuning for serving (notifications/serving/gcpauses.py), seen in a fresh interpreter.

Each test runs a new Python process, set up as a server is (settings from the
environment, then `serving.install()`, what the hub calls on start), and reads
the collector's state there: this test process's collector is never changed.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import gc, json, django
django.setup()
before = {"threshold": gc.get_threshold(), "frozen": gc.get_freeze_count()}
from notifications import serving
serving.install()
after = {"threshold": gc.get_threshold(), "frozen": gc.get_freeze_count()}
serving.install()  # a second hub start in one process
again = {"threshold": gc.get_threshold(), "frozen": gc.get_freeze_count()}
print(json.dumps({"before": before, "after": after, "again": again}))
"""


def collector_when_serving(threshold: str | None) -> dict:
    """Return the collector's thresholds and frozen count before and after serving starts, in a new process."""
    env = {k: v for k, v in os.environ.items() if k != "NOTIFY_GC_THRESHOLD"}
    if threshold is not None:
        env["NOTIFY_GC_THRESHOLD"] = threshold
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_serving_freezes_the_start_up_heap_and_spaces_out_young_collections():
    """NOTIFY_GC_THRESHOLD=40000: young collections every 40000 allocations, and the start-up objects frozen."""
    seen = collector_when_serving("40000")
    assert seen["before"]["frozen"] == 0
    assert seen["after"]["threshold"] == [40000, *seen["before"]["threshold"][1:]]
    assert seen["after"]["frozen"] > 10_000  # Django, the URL conf and the apps: tens of thousands of objects


def test_the_default_tunes_too():
    """With nothing configured, serving uses the table's default (50000), not Python's 700."""
    assert collector_when_serving(None)["after"]["threshold"][0] == 50_000


def test_tuning_happens_once_per_process():
    """A second hub start in one process freezes nothing more and keeps the thresholds."""
    seen = collector_when_serving("40000")
    assert seen["again"] == seen["after"]


def test_zero_keeps_pythons_defaults():
    """NOTIFY_GC_THRESHOLD=0 leaves the collector alone: Python's thresholds, nothing frozen."""
    seen = collector_when_serving("0")
    assert seen["after"] == seen["before"]
    assert seen["after"]["threshold"][0] == 700
