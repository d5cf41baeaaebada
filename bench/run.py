"""Run the benchmark: real daphne instances, a separate load-generator process, baselines in the same run.

    .venv/bin/python -m bench.run                          # full sizes, prints the table
    .venv/bin/python -m bench.run --write docs/benchmarks.md   # the table into the page, between its markers
    .venv/bin/python -m bench.run --short                  # smoke: small sizes, fails on any loss or duplicate
    .venv/bin/python -m bench.run --only W2 baselines      # a selection
    .venv/bin/python -m bench.run --only W1 W1-stomp W1-mqtt W2 W2-stomp W2-mqtt   # W1, W2 over JSON, STOMP, MQTT
    .venv/bin/python -m bench.run --only W4 --profile var/profiles   # py-spy profiles of the instances
    .venv/bin/python -m bench.run --only W5                 # status events through the AMQP ingress
    .venv/bin/python -m bench.run --server uvicorn --only W1 W2 W3 W4  # the same app under uvicorn

Needs RabbitMQ (127.0.0.1:5672), Redis (127.0.0.1:6379, for the channels_redis
baseline) and PostgreSQL (BENCH_DATABASE_URL, default the local `test` server).
W1 and W2 run over JSON (`W1`, `W2`), STOMP (`W1-stomp`, `W2-stomp`) and MQTT
(`W1-mqtt`, `W2-mqtt` at QoS 0; `W1-mqtt-qos1`, `W2-mqtt-qos1` with a PUBACK for
every message); the rows say their protocol.
Exits non-zero when our product lost, duplicated or reordered a delivery (never for speed).
"""

import argparse
import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

from . import report
from .ingress import ingress_workload
from .workloads import FULL, SHORT, Sizes, baseline_naive, baseline_redis, ours

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
)


async def run(sizes: Sizes, workdir: Path, only: set[str], profile_dir: Path | None, server: str) -> list[dict]:
    rows = await ours(workdir, sizes, only, profile_dir, server)
    if server != "daphne":
        for row in rows:
            row["workload"] += f" on {server}"
    if "W5" in only and sizes.ingress_events:
        rows += await ingress_workload(workdir, sizes, profile_dir)
    if "baselines" in only:
        rows += await baseline_redis(workdir, sizes)
        rows += await baseline_naive(workdir, sizes)
    return rows


def faulty_rows(rows: list[dict]) -> list[str]:
    """Return the names of our rows (not the naive baseline's) that lost, duplicated or reordered a delivery."""
    return [
        r["workload"]
        for r in rows
        if (r.get("lost") or r.get("duplicated") or r.get("out_of_order") or r.get("failure"))
        and "naive" not in r["workload"]
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", action="store_true", help="small sizes (the CI smoke run)")
    parser.add_argument(
        "--write",
        default=None,
        help="put the table into this markdown file (between its bench.run markers, if it has them)",
    )
    parser.add_argument("--only", nargs="+", choices=WORKLOADS, default=list(WORKLOADS), help="workloads to run")
    parser.add_argument("--profile", type=Path, default=None, help="record py-spy profiles of our instances here")
    parser.add_argument(
        "--server", choices=["daphne", "uvicorn"], default="daphne", help="serve our instances with this ASGI server"
    )
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-run-"))
    print(f"instance logs: {workdir}", flush=True)
    rows = asyncio.run(run(SHORT if args.short else FULL, workdir, set(args.only), args.profile, args.server))
    print(report.table(rows))
    if args.write:
        report.write(args.write, rows, "python -m bench.run " + " ".join(sys.argv[1:]))
    faulty = faulty_rows(rows)
    if faulty:
        sys.exit(f"lost, duplicated or reordered deliveries in: {', '.join(faulty)}; instance logs kept in {workdir}")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
