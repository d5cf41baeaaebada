"""The benchmark's short mode, as CI runs it: every workload, baseline and peer at small sizes.

It asserts what the benchmark exists to show besides speed: every delivery
of our product, and of each peer, arrived, once, in order. Speed is never
asserted (docs/benchmarks.md).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.report import RATIOS_BEGIN, RATIOS_END
from bench.run import PEERS

ROOT = Path(__file__).resolve().parents[2]
SHORT_RUN_TIMEOUT_SECS = 900

OUR_ROWS = [
    "W1 saturated (ours, 2 instances)",
    "W1 at 1/s (ours, 2 instances)",
    "W2 per-user (ours, 2 instances, batches of 20, 8 publishers)",
    "W2 per-user (ours, 2 instances, one event a call, 32 publishers)",
    "W4 publish, 1 publisher(s), 1 instance",
    "W4 publish, 8 publisher(s), 1 instance",
    "W4 publish, 32 publisher(s), 1 instance",
    "W1 saturated (ours on channels_redis, 2 instances)",
    "W1 at 1/s (ours on channels_redis, 2 instances)",
    "W1 saturated (ours, 1 instance)",
    "W1 at 1/s (ours, 1 instance)",
    "W1 saturated (ours, 2 instances, sockets on A, published on B)",
    "W1 at 1/s (ours, 2 instances, sockets on A, published on B)",
    "W2 per-user (ours, 1 instance, batches of 20, 8 publishers)",
]
# Each peer's rows, with the load generator's client kind as their protocol.
PEER_ROWS = {
    name.format(label): protocol
    for protocol, label in (
        ("webstomp", "RabbitMQ Web-STOMP, 1 node"),
        ("socketio", "python-socketio + aio-pika on uvicorn, 1 process"),
        ("bare", "bare websockets, 1 process"),
    )
    for name in ("W1 saturated ({})", "W1 at 1/s ({})", "W2 per-user ({}, one message a publish)")
}
# W1 and W2 over the other protocols, each row with its protocol.
OTHER_PROTOCOL_ROWS = {
    name.format(label): protocol
    for protocol, label in (("stomp", "STOMP"), ("mqtt", "MQTT"), ("mqtt-qos1", "MQTT QoS 1"))
    for name in (
        "W1 saturated (ours, 2 instances, {})",
        "W1 at 1/s (ours, 2 instances, {})",
        "W2 per-user (ours, 2 instances, {}, batches of 20, 8 publishers)",
        "W2 per-user (ours, 2 instances, {}, one event a call, 32 publishers)",
    )
}


def run_short_benchmark(report: Path) -> tuple[subprocess.CompletedProcess, dict[str, dict]]:
    env = dict(os.environ)
    env["BENCH_AMQP_URL"] = os.environ["NOTIFY_TEST_AMQP_URL"]
    if os.environ.get("DATABASE_URL"):
        env["BENCH_DATABASE_URL"] = os.environ["DATABASE_URL"]
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--short", "--write", str(report)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=SHORT_RUN_TIMEOUT_SECS,
    )
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return done, {row["workload"]: row for row in rows}


def test_short_benchmark_delivers_everything_exactly_once(tmp_path):
    """`python -m bench.run --short` exits 0; each of our rows, over JSON, STOMP and MQTT, and each peer's row
    delivered all it expected, none twice, each socket's in cursor (or per-stream sequence) order; the baselines
    and W3 ran too, for ours and every peer; the report names the command and holds the ratio table."""
    report = tmp_path / "report.md"
    done, rows = run_short_benchmark(report)
    output = f"--- stdout\n{done.stdout[-4000:]}\n--- stderr\n{done.stderr[-4000:]}"
    assert done.returncode == 0, output

    expected_protocols = {**dict.fromkeys(OUR_ROWS, "json"), **OTHER_PROTOCOL_ROWS, **PEER_ROWS}
    for name, protocol in expected_protocols.items():
        row = rows.get(name)
        assert row is not None, f"no row {name!r}\n{output}"
        assert row["protocol"] == protocol, row
        assert (row["delivered"], row["lost"], row["duplicated"], row["out_of_order"]) == (row["expected"], 0, 0, 0), (
            row
        )
        assert row["expected"] > 0 and "failure" not in row, row
    for name in [n for n in OUR_ROWS if n.startswith(("W1", "W2"))]:  # live delivery caught up from the database
        caught_up = rows[name].get("caught_up_pct")
        assert caught_up is not None and 0 <= caught_up <= 100, rows[name]
    assert rows["W3 idle connections (ours, 1 instance, 200)"]["delivered"] == 200
    idle_peers = [row for name, row in rows.items() if name.startswith("W3 ") and row.get("system") in PEERS]
    assert sorted(row["system"] for row in idle_peers) == sorted(PEERS), sorted(rows)
    assert all(row["delivered"] == 200 and row["connect_per_sec"] > 0 for row in idle_peers), idle_peers
    naive = [name for name in rows if "naive forwarder" in name]
    assert len(naive) == 3, sorted(rows)
    text = report.read_text()
    assert "Command: `python -m bench.run --short" in text
    assert "| W1 saturated (ours, 2 instances, MQTT) | mqtt |" in text
    assert RATIOS_BEGIN in text and "| W1 broadcast to every socket, deliveries/s |" in text, text[:3000]
    assert "not measured" not in text.split(RATIOS_END)[0], text[:3000]
