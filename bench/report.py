"""The benchmark's report: a markdown table with the machine, the versions and the command that made it."""

import os
import platform
import time
from importlib.metadata import version
from pathlib import Path

COLUMNS = [
    "workload",
    "protocol",
    "expected",
    "delivered",
    "lost",
    "duplicated",
    "out_of_order",
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


# `--write` replaces what stands between these lines of an existing file (docs/benchmarks.md).
BEGIN = "<!-- bench.run: the latest run, written by --write -->"
END = "<!-- bench.run: end -->"


def write(path: str, rows: list[dict], command: str) -> None:
    """Write the table, headed by when and where it ran and the command, into `path`.

    In a file that has the BEGIN and END lines, only what stands between them
    is replaced; a file without them gets the block appended; a new file is
    the block alone.
    """
    block = (
        f"{BEGIN}\n"
        f"Run finished {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine()}; {versions()}.\n"
        f"Command: `{command}`\n\n{table(rows)}\n"
        f"{END}"
    )
    target = Path(path)
    text = target.read_text() if target.exists() else ""
    if BEGIN in text and END in text:
        before, rest = text.split(BEGIN, 1)
        text = before + block + rest.split(END, 1)[1]
    else:
        text = text + ("\n" if text and not text.endswith("\n") else "") + block + "\n"
    target.write_text(text)
