"""The benchmark's report: a markdown table with the machine, the versions and the command that made it."""

import os
import platform
import time
from importlib.metadata import version
from pathlib import Path

COLUMNS = [
    "workload",
    "expected",
    "delivered",
    "lost",
    "duplicated",
    "per_sec",
    "p50",
    "p95",
    "p99",
    "max",
    "posts_per_sec",
    "post_p50_ms",
    "connect_secs",
    "connect_per_sec",
    "kib_per_connection",
    "cpu_seconds",
]


def versions() -> str:
    packages = ["Django", "channels", "daphne", "channels-rabbitmq", "channels-redis", "djangorestframework"]
    return f"Python {platform.python_version()}, " + ", ".join(f"{name} {version(name)}" for name in packages)


def machine() -> str:
    memory_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return f"{os.cpu_count()} cores, {memory_kib // 1024 // 1024} GiB, {platform.platform()}"


def table(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        lines.append("| " + " | ".join("" if row.get(c) is None else str(row.get(c)) for c in COLUMNS) + " |")
    return "\n".join(lines)


def write(path: str, rows: list[dict], command: str) -> None:
    """Write the table to `path`, headed by when and where it was measured and the command."""
    Path(path).write_text(
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine()}; {versions()}.\n"
        f"Command: `{command}`\n\n{table(rows)}\n"
    )
