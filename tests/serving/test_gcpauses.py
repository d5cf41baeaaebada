"""Garbage-collector tuning for serving (notifications/gcpauses.py)."""

import gc

import pytest

from notifications.serving import gcpauses


@pytest.fixture
def fresh_collector(monkeypatch):
    """Let the tuning run again in this process, and put the collector back as it was afterwards."""
    monkeypatch.setattr(gcpauses, "_tuned", False)
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_serving_freezes_the_start_up_heap_and_spaces_out_collections(fresh_collector, settings):
    """Objects alive at start-up are frozen; young collections come every NOTIFY_GC_THRESHOLD allocations."""
    settings.NOTIFY_GC_THRESHOLD = 40_000
    gcpauses.tune_for_serving()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] == 40_000


def test_tuning_happens_once_per_process(fresh_collector, settings):
    """A second hub start (tests, a replaced hub) changes nothing more."""
    settings.NOTIFY_GC_THRESHOLD = 40_000
    gcpauses.tune_for_serving()
    settings.NOTIFY_GC_THRESHOLD = 30_000
    gcpauses.tune_for_serving()
    assert gc.get_threshold()[0] == 40_000


def test_zero_keeps_pythons_defaults(fresh_collector, settings):
    """NOTIFY_GC_THRESHOLD=0 leaves the collector alone."""
    settings.NOTIFY_GC_THRESHOLD = 0
    before = gc.get_threshold()
    gcpauses.tune_for_serving()
    assert gc.get_threshold() == before
