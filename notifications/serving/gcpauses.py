"""Keep the garbage collector's pauses out of delivery latency on a long-running server.

Every socket's state forms reference cycles (consumer, delivery pump, tasks),
so closed sockets are reclaimed by the cyclic collector, and a full
collection walks every live object while the event loop waits: measured here
at 100 to 250 ms with 500 sockets, which alone put the p99 of a broadcast at
1 a second past 150 ms (docs/benchmarks.md). Two standard measures:

- freeze what exists when serving starts (Django, the URL conf, the apps):
  it lives as long as the process, so no collection needs to walk it again;
- collect the young generation every NOTIFY_GC_THRESHOLD allocations instead
  of Python's 700, so that a burst of frames does not promote its temporaries
  and trigger full collections every few seconds. Refcounting still frees
  everything without cycles at once.
"""

import gc
import logging

from notifications import conf

logger = logging.getLogger(__name__)
_tuned = False


def tune_for_serving() -> None:
    """Freeze the start-up heap and space out collections, once per process (NOTIFY_GC_THRESHOLD)."""
    global _tuned
    threshold = conf.gc_threshold()
    if _tuned or not threshold:
        return
    _tuned = True
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(threshold, middle, oldest)
    logger.info("garbage collector: %s objects frozen, young collections every %s", gc.get_freeze_count(), threshold)
