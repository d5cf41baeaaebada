"""What the delivery ledger costs W1 and W2: the same runs with NOTIFY_DELIVERY_LEDGER on and off, alternated.

One deployment and one set of users; each round starts two instances with the
ledger on and two with it off (the order swapped every round, so a machine
that slows down during the run weighs on both), and runs W1 saturated and W2
in batches over JSON on each pair. Reported per workload: the median rate and
the median instance CPU per delivery of each setting, and the ledger's share
of the instances' samples (py-spy, GIL held) in the runs with it on, which a
busy machine disturbs far less than a rate.
"""

import statistics
import tempfile
import time
from pathlib import Path

from tests.integration.harness import Deployment

from .population import create_users
from .processes import LoadGenerator
from .publishers import announcement, in_calls, post_as_fast, post_at_rate, status_call
from .workloads import AMQP_URL, DATABASE_URL, LONG_TICKETS, Sizes, notify_clients, observing, summarize

ROUNDS = 3
PUBLISHERS = 8
LEDGER_FRAMES = ("realtime/ledger.py", "store/ledger.py")
WORKLOADS = ("W1 saturated", "W2 batches")


async def ledger_cost(workdir: Path, sizes: Sizes, rounds: int = ROUNDS) -> list[dict]:
    """Return one row per measured run and, per workload, one row comparing the two settings."""
    runs: list[dict] = []
    with Deployment(workdir / "ledger", amqp_url=AMQP_URL, database_url=DATABASE_URL, extra_env=LONG_TICKETS) as app:
        token = app.create_service_token("bench", "publish", "broadcast")
        users = create_users(app, sizes.clients, with_requests=True)
        for round_number in range(rounds):
            for ledger_on in (True, False) if round_number % 2 == 0 else (False, True):
                suffix = f"{round_number}{'on' if ledger_on else 'off'}"
                env = {"NOTIFY_DELIVERY_LEDGER": "1" if ledger_on else "0"}
                pair = [app.instance(f"{name}{suffix}", env=env) for name in ("A", "B")]
                try:
                    runs += await _measure(pair, token, users, sizes, ledger_on)
                finally:
                    for instance in pair:
                        instance.terminate()
    return runs + [_compare(workload, runs) for workload in WORKLOADS]


async def _measure(instances, token: str, users: dict, sizes: Sizes, ledger_on: bool) -> list[dict]:
    """W1 saturated and W2 in batches on one pair of instances, with py-spy sampling them."""
    names = sorted(users)
    setting = "ledger on" if ledger_on else "ledger off"
    headers = {"Authorization": f"Token {token}"}
    rows = []
    with tempfile.TemporaryDirectory(prefix="ledger-profiles-") as folder:
        observed = observing(instances, Path(folder))

        name = f"W1 saturated ({setting})"
        load = LoadGenerator(await notify_clients(instances, token, names), "notify", sizes.broadcasts, timeout=180)
        load.wait_ready()
        with observed(name, load) as seen:
            started = await post_at_rate(
                instances[0].url, "/api/v1/broadcasts/", sizes.broadcasts, sizes.broadcast_rate, announcement, headers
            )
            result = load.finish(timeout=180)
        rows.append(_with_costs(summarize(name, result, started, cpu_seconds=seen.cpu), seen, instances, folder))

        name = f"W2 batches ({setting})"
        per_client = sizes.per_user_events // len(names)
        load = LoadGenerator(await notify_clients(instances, token, names), "notify", per_client, timeout=300)
        load.wait_ready()
        bodies = [
            {"request": users[names[i % len(names)]], "status": "processing"} for i in range(per_client * len(names))
        ]
        with observed(name, load) as seen:
            urls = [instance.url for instance in instances]
            started, _ = await post_as_fast(urls, headers, in_calls(bodies, sizes.batch), PUBLISHERS, status_call)
            result = load.finish(timeout=300)
        rows.append(_with_costs(summarize(name, result, started, cpu_seconds=seen.cpu), seen, instances, folder))
    for row in rows:
        row["ledger"] = ledger_on
    return rows


def _with_costs(row: dict, seen, instances, folder: str) -> dict:
    """Add the instances' CPU per delivery (µs) and the ledger's share of their samples to `row`."""
    instance_cpu = sum(seen.cpu_by_name.get(instance.name, 0.0) for instance in instances)
    row["us_per_delivery"] = instance_cpu / max(1, row["delivered"]) * 1e6
    slug = "".join(c if c.isalnum() else "-" for c in seen.name).strip("-")
    samples = in_ledger = 0
    for profile in Path(folder).glob(f"{slug}-*.txt"):
        for line in profile.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if count.isdigit():
                samples += int(count)
                in_ledger += int(count) if any(frame in stack for frame in LEDGER_FRAMES) else 0
    row["ledger_share"] = in_ledger / samples if samples else None
    return row


def _compare(workload: str, runs: list[dict]) -> dict:
    """One row: each setting's medians and the ledger's cost, as a share of the rate and of the instances' CPU."""
    on = [r for r in runs if r["workload"].startswith(workload) and r["ledger"]]
    off = [r for r in runs if r["workload"].startswith(workload) and not r["ledger"]]
    rate_on, rate_off = (statistics.median(r["per_sec"] for r in rows) for rows in (on, off))
    cpu_on, cpu_off = (statistics.median(r["us_per_delivery"] for r in rows) for rows in (on, off))
    shares = [r["ledger_share"] for r in on if r["ledger_share"] is not None]
    share = f"{statistics.median(shares) * 100:.1f} %" if shares else "n/a"
    label = (
        f"{workload}: delivery ledger on vs off, medians of {len(on)}: "
        f"{rate_on:,} vs {rate_off:,} a second ({(1 - rate_on / rate_off) * 100:+.1f} %), "
        f"{cpu_on:.0f} vs {cpu_off:.0f} µs of instance CPU a delivery ({(cpu_on / cpu_off - 1) * 100:+.1f} %), "
        f"ledger code {share} of the instances' samples "
        f"(rates on {[r['per_sec'] for r in on]}, off {[r['per_sec'] for r in off]}; {time.strftime('%H:%M')})"
    )
    row = {
        "workload": label,
        "protocol": "json",
        **{
            key: sum(r[key] for r in on + off)
            for key in ("expected", "delivered", "lost", "duplicated", "out_of_order")
        },
        "per_sec": rate_on,
    }
    print(label, flush=True)
    return row
