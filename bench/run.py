"""Run the benchmark: real daphne instances, a separate load-generator process, baselines in the same run.

    .venv/bin/python -m bench.run                          # full sizes, prints the table
    .venv/bin/python -m bench.run --write docs/benchmarks.md   # the table into the page, between its markers
    .venv/bin/python -m bench.run --short                  # smoke: small sizes, fails on any loss or duplicate
    .venv/bin/python -m bench.run --only W2 baselines      # a selection
    .venv/bin/python -m bench.run --only W1 W1-stomp W1-mqtt W2 W2-stomp W2-mqtt   # W1, W2 over JSON, STOMP, MQTT
    .venv/bin/python -m bench.run --only W4 --profile var/profiles   # py-spy profiles of the instances
    .venv/bin/python -m bench.run --only W5                 # status events through the AMQP ingress
    .venv/bin/python -m bench.run --only ledger             # W1, W2 with the delivery ledger on and off, 3 rounds
    .venv/bin/python -m bench.run --server uvicorn --only W1 W2 W3 W4  # the same app under uvicorn
    .venv/bin/python -m bench.run --only W1 W2 W3 W4 baselines peers --write docs/benchmarks.md \
        --chart docs/img/benchmark-peers.png       # the ratio table and its chart (docs/benchmarks.md)
    .venv/bin/python -m bench.run --only peers     # the peers alone: webstomp, socketio, bare (or name them)

Needs RabbitMQ (127.0.0.1:5672), Redis (127.0.0.1:6379, for the channels_redis
baseline) and PostgreSQL (BENCH_DATABASE_URL, default the local `test` server).
W1 and W2 run over JSON (`W1`, `W2`), STOMP (`W1-stomp`, `W2-stomp`) and MQTT
(`W1-mqtt`, `W2-mqtt` at QoS 0; `W1-mqtt-qos1`, `W2-mqtt-qos1` with a PUBACK for
every message); the rows say their protocol. The peers (bench/peers/: RabbitMQ
Web-STOMP on a private node, python-socketio with AsyncAioPikaManager on uvicorn,
a bare websockets server) run W1, W2 and W3 with publishers of their own kind.
At the end it prints the ratio table (bench/ratios.py): each workload per peer
and ours, and every target's ratio, met or not.
Exits non-zero when our product lost, duplicated or reordered a delivery (never for
speed; a peer's losses are reported, not failed on).
"""

import argparse
import asyncio
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from . import chart, ratios, report
from .ingress import ingress_workload
from .ledger_cost import ledger_cost
from .peers.workloads import peers
from .workloads import FULL, SHORT, Sizes, baseline_naive, baseline_redis, ours

PEERS = ("webstomp", "socketio", "bare")
WORKLOADS = (
    "W1",
    "W2",
    "W3",
    "W4",
    "W5",
    "baselines",
    "W1-stomp",
    "W2-stomp",
    "W1-mqtt",
    "W2-mqtt",
    "W1-mqtt-qos1",
    "W2-mqtt-qos1",
    "peers",
    *PEERS,
    "ledger",
)
# Workloads that start deployments of their own (the others share one of ours).
SEPARATE_DEPLOYMENTS = {"W5", "baselines", "ledger", "peers", *PEERS}
# Run only when named: each compares two settings over several rounds, minutes of its own.
OPT_IN = {"ledger"}


async def run(sizes: Sizes, workdir: Path, only: set[str], profile_dir: Path | None, server: str) -> list[dict]:
    rows = await ours(workdir, sizes, only, profile_dir, server) if only - SEPARATE_DEPLOYMENTS else []
    if server != "daphne":
        for row in rows:
            row["workload"] += f" on {server}"
    if "W5" in only and sizes.ingress_events:
        rows += await ingress_workload(workdir, sizes, profile_dir)
    if "ledger" in only:
        rows += await ledger_cost(workdir, sizes)
    if "baselines" in only:
        rows += await baseline_redis(workdir, sizes)
        rows += await baseline_naive(workdir, sizes)
    if only & {"peers", *PEERS}:
        rows += await peers(workdir, sizes, set(PEERS) if "peers" in only else only)
    return rows


def faulty_rows(rows: list[dict]) -> list[str]:
    """Return the names of our rows (not a baseline's or a peer's) that lost, duplicated or reordered a delivery."""
    return [
        r["workload"]
        for r in rows
        if (r.get("lost") or r.get("duplicated") or r.get("out_of_order") or r.get("failure"))
        and "naive" not in r["workload"]
        and r.get("system") not in PEERS
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", action="store_true", help="small sizes (the CI smoke run)")
    parser.add_argument(
        "--write",
        default=None,
        help="put the table into this markdown file (between its bench.run markers, if it has them)",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=WORKLOADS,
        default=[w for w in WORKLOADS if w not in OPT_IN],
        help="workloads to run (all but ledger by default)",
    )
    parser.add_argument(
        "--chart",
        type=Path,
        default=None,
        help="draw the ratio chart into this PNG (needs matplotlib), the run's rows beside it as .json",
    )
    parser.add_argument("--profile", type=Path, default=None, help="record py-spy profiles of our instances here")
    parser.add_argument(
        "--server", choices=["daphne", "uvicorn"], default="daphne", help="serve our instances with this ASGI server"
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the instances' logs after a run that passed")
    args = parser.parse_args()
    # A SIGTERM (timeout, CI) unwinds like an error, so every instance, peer and private node is stopped by PID.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("bench.run: terminated"))
    workdir = Path(tempfile.mkdtemp(prefix="bench-run-"))
    print(f"instance logs: {workdir}", flush=True)
    load_at_start = os.getloadavg()
    rows = asyncio.run(run(SHORT if args.short else FULL, workdir, set(args.only), args.profile, args.server))
    command = "python -m bench.run " + " ".join(sys.argv[1:])
    print(report.table(rows))
    print(ratios.table(rows))
    load = (
        "Load average (1, 5, 15 min) at the start {:.1f}, {:.1f}, {:.1f}; at the end {:.1f}, {:.1f}, {:.1f}.\n".format(
            *load_at_start, *os.getloadavg()
        )
    )
    print(load)
    if args.write:
        report.write(args.write, rows, command, load)
    if args.chart:
        chart.save(rows, args.chart, f"{report.when()}, load {load_at_start[0]:.1f} at the start: {command}")
    faulty = faulty_rows(rows)
    if faulty:
        sys.exit(f"lost, duplicated or reordered deliveries in: {', '.join(faulty)}; instance logs kept in {workdir}")
    if not args.keep_logs:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
