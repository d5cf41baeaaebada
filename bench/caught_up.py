"""How much of a workload's live delivery fell back to the database: scraped from each instance's /metrics.

A live delivery is normally taken from the layer; it is read from the
database only when the layer's copy was missing or late (a gap that stayed
open, an outage, a stream-heads check). When nothing was lost that share
should be near zero; a large one means the live path was slow, not lossy.
"""

import httpx
from prometheus_client.parser import text_string_to_metric_families

LIVE = "notify_delivery_lag_seconds_count"
CAUGHT_UP = "notify_deliveries_caught_up_total"


def counts(instances) -> dict[str, float]:
    """Return the live deliveries and those caught up from the database so far, summed over instances."""
    total = {LIVE: 0.0, CAUGHT_UP: 0.0}
    for instance in instances:
        text = httpx.get(f"{instance.url}/metrics", timeout=10, trust_env=False).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name in total:
                    total[sample.name] += sample.value
    return total


def share_pct(before: dict[str, float], after: dict[str, float]) -> float | None:
    """Return the caught-up share of the live deliveries between two `counts()`, in percent."""
    live = after[LIVE] - before[LIVE]
    if live <= 0:
        return None
    return round((after[CAUGHT_UP] - before[CAUGHT_UP]) / live * 100, 2)
