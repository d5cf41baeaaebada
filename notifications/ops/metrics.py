"""The process's Prometheus metrics: what operators watch to know delivery works.

Each daphne instance exposes its own numbers at /metrics (see
`metrics_view.py`); Prometheus scrapes every instance and sums. Counters
are updated where the thing happens; the hub's state (open sockets, layer
reconnects and health) is read at scrape time by `HubCollector`, so there is
no second bookkeeping to drift.
"""

import functools
import time
from collections import Counter as Tally

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from notifications.ops import runtime_status

EVENTS_STORED = Counter(
    "notify_events_stored", "Events this process stored and handed to its hub after commit.", ["kind"]
)
EVENTS_FANNED_OUT = Counter("notify_events_fanned_out", "Events handed to the channel layer on their first attempt.")
EVENTS_RESENT = Counter("notify_events_resent", "Pending events the outbox sweep sent again.")
EVENTS_FAILED = Counter(
    "notify_events_failed", "Events the outbox gave up on: not encodable, or not sent in NOTIFY_OUTBOX_MAX_ATTEMPTS."
)
INGRESS_CONSUMED = Counter("notify_ingress_consumed", "Messages this process took from the AMQP ingress queue.")
INGRESS_STORED = Counter("notify_ingress_stored", "Ingress messages acked as stored (a repeated message_id included).")
INGRESS_REJECTED = Counter(
    "notify_ingress_rejected", "Ingress messages refused and republished to the rejected exchange.", ["status"]
)
DELIVERY_LAG = Histogram(
    "notify_delivery_lag_seconds",
    "From an event's commit to its frame being written to a live socket, by protocol (replays apart).",
    ["protocol"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
REPLAY_LAG = Histogram(
    "notify_replay_lag_seconds",
    "From an event's commit to its frame being written to a socket that resumed past it, by protocol.",
    ["protocol"],
    buckets=(0.05, 0.25, 1, 5, 30, 60, 300, 1800, 3600, 6 * 3600, 86400, 7 * 86400),
)
DELIVERIES_CAUGHT_UP = Counter(
    "notify_deliveries_caught_up",
    "Live deliveries read from the database because the layer's copy was missing or late (a gap that stayed"
    " open, a layer outage, a stream-heads check), by protocol; a share of notify_delivery_lag_seconds_count.",
    ["protocol"],
)
TIME_TO_READ = Histogram(
    "notify_time_to_read_seconds",
    "From a request event's commit to the user's read marker passing it (read means a visible tab showed it).",
    buckets=(1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600, 6 * 3600, 86400),
)
EVENTS_SKIPPED = Counter(
    "notify_events_skipped", "Stored events a socket skipped because their payload could not be encoded or sent."
)
ESCALATIONS = Counter(
    "notify_unseen_escalations",
    "Finished requests nobody saw in time, settled by this process, once per channel that told someone"
    " (email, webhook), or none.",
    ["outcome"],
)
FRAMES_RECEIVED = Counter("notify_frames_received", "Client frames (or packets) received, by protocol.", ["protocol"])
FRAMES_REFUSED = Counter(
    "notify_frames_refused",
    "Client frames answered with an error or a closing code, by code and protocol.",
    ["code", "protocol"],
)
SOCKETS_OPENED = Counter("notify_sockets_opened", "Authenticated connections this process accepted.", ["protocol"])
SOCKETS_SHED = Counter(
    "notify_sockets_shed",
    "Connects turned away past NOTIFY_MAX_CONNECTS_PER_SEC (1013, or 503 for an event stream), by transport.",
    ["transport"],
)
SOCKETS_REFUSED = Counter(
    "notify_sockets_refused", "Connections closed at once for lack of authentication.", ["protocol"]
)
GATEWAY_REQUESTS = Counter(
    "notify_gateway_requests",
    "Socket `request` frames answered, by target (`local` or the upstream's name) and status class (2xx..5xx).",
    ["target", "status_class"],
)


def record_gateway_request(target: str, status: int) -> None:
    GATEWAY_REQUESTS.labels(target=target, status_class=f"{status // 100}xx").inc()


class LagObserver:
    """Record the age (from a Unix timestamp of its storing) of each event a socket of one protocol is handed."""

    __slots__ = ("_live", "_replay", "_caught_up")

    def __init__(self, protocol: str):
        self._live = DELIVERY_LAG.labels(protocol=protocol)
        self._replay = REPLAY_LAG.labels(protocol=protocol)
        self._caught_up = DELIVERIES_CAUGHT_UP.labels(protocol=protocol)

    def live(self, created_at: float) -> None:
        self._live.observe(max(0.0, time.time() - created_at))

    def replay(self, created_at: float) -> None:
        self._replay.observe(max(0.0, time.time() - created_at))

    def caught_up(self, count: int) -> None:
        """Count live deliveries that had to be read from the database (their lag is observed by `live`)."""
        self._caught_up.inc(count)


@functools.cache
def lag_observer(protocol: str) -> LagObserver:
    """Return the one `LagObserver` of a protocol's sockets (it holds no state of a socket's own)."""
    return LagObserver(protocol)


def observe_time_to_read(created_at: float) -> None:
    """Record how long a request event (its storing, a Unix timestamp) waited until the user read it."""
    TIME_TO_READ.observe(max(0.0, time.time() - created_at))


def record_stored(events: list) -> None:
    """Count committed events by kind."""
    for kind, count in Tally(event.kind for event in events).items():
        EVENTS_STORED.labels(kind=kind).inc(count)


def record_refused(code: str, protocol: str) -> None:
    FRAMES_REFUSED.labels(code=code, protocol=protocol).inc()


class HubCollector(Collector):
    """Read the running hub's sockets and channel-layer state at scrape time."""

    def describe(self):
        return self._families()

    def collect(self):
        status = runtime_status.current() or {"connections": 0, "reconnects": 0, "healthy": False}
        connections, by_protocol, reconnects, healthy, direct = self._families()
        connections.add_metric([], status["connections"])
        for protocol, count in sorted(status.get("connections_by_protocol", {}).items()):
            by_protocol.add_metric([protocol], count)
        reconnects.add_metric([], status["reconnects"])
        healthy.add_metric([], 1 if status["healthy"] else 0)
        direct.add_metric([], status.get("frames_written_directly", 0))
        return [connections, by_protocol, reconnects, healthy, direct]

    def _families(self) -> list:
        return [
            GaugeMetricFamily("notify_open_connections", "Connections (any protocol) this process holds now."),
            GaugeMetricFamily(
                "notify_open_connections_by_protocol",
                "Connections this process holds now, by protocol.",
                labels=["protocol"],
            ),
            CounterMetricFamily(
                "notify_channel_layer_reconnects", "Times this process replaced a channel layer that stopped answering."
            ),
            GaugeMetricFamily("notify_channel_layer_healthy", "1 while the last channel-layer probe succeeded."),
            CounterMetricFamily(
                "notify_event_frames_written_directly",
                "Event frames written straight to daphne's socket (serving/rawframes.py), not through ASGI.",
            ),
        ]


_HUB_COLLECTOR = HubCollector()
REGISTRY.register(_HUB_COLLECTOR)
