"""Event frames written straight to daphne's socket: what a stock client reads, and that the fast path ran.

The instance answered /healthz before any socket opened, so its hub (and the
patch that offers the fast path) runs before the first WebSocket scope.
"""

import re

import httpx

from .harness.stream import StreamFollower
from .test_fanout import create_request, report


def directly_written(instance) -> float:
    text = httpx.get(instance.url + "/metrics", timeout=10, trust_env=False).text
    match = re.search(r"^notify_event_frames_written_directly_total (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def test_event_frames_of_every_length_encoding_reach_a_stock_client_through_the_fast_path(service):
    """Small and 16-bit-length frames parse in `websockets` (strict RFC 6455), in order; the counter moved."""
    ada = StreamFollower(service.session("ada"))
    await ada.connect(service.a)
    before = directly_written(service.a)
    data = {"rows": ["é" * 100 for _ in range(60)]}  # about 12 KiB of UTF-8: a 16-bit length
    with service.publisher(service.a) as publisher:
        request_id = create_request(publisher, "ada", "Import")
        for progress in (10, 50, 90):
            report(publisher, request_id, "processing", progress, data=data)
        report(publisher, request_id, "succeeded", message="ünïcode ✓")
    await ada.read_until_count(5, timeout=10)
    assert [e["request"]["status"] for e in ada.events] == [
        "queued",
        "processing",
        "processing",
        "processing",
        "succeeded",
    ]
    assert [e["request"].get("progress") for e in ada.events[1:4]] == [10, 50, 90]
    assert ada.events[1]["data"] == data and ada.events[-1]["message"] == "ünïcode ✓"
    assert directly_written(service.a) - before >= 5
    await ada.disconnect()
