"""The benchmark's report: a markdown table with the machine, the versions and the command that made it."""

import os
import platform
import time
from importlib.metadata import version
from pathlib import Path

from . import ratios

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
    "caught_up_pct",
    "load_1min",
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
# The ratio table's block, at the head of docs/benchmarks.md; written only by a run with tagged rows.
RATIOS_BEGIN = "<!-- bench.run: ratio table, written by --write -->"
RATIOS_END = "<!-- bench.run: ratio table end -->"


def when() -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


def heading(command: str, load: str) -> str:
    return f"Run finished {when()} on {machine()}; {versions()}.\n{load}Command: `{command}`\n\n"


def write(path: str, rows: list[dict], command: str, load: str = "") -> None:
    """Write the table, headed by when and where it ran (and the load, when given) and the command, into `path`.

    In a file that has the BEGIN and END lines, only what stands between them
    is replaced; a file without them gets the block appended; a new file is
    the block alone. The ratio table goes the same way between RATIOS_BEGIN
    and RATIOS_END, or before the table's block in a file without them.
    """
    target = Path(path)
    text = target.read_text() if target.exists() else ""
    text = replaced(text, BEGIN, END, f"{heading(command, load)}{table(rows)}\n")
    if ratio_table := ratios.table(rows):
        block = f"{heading(command, load)}{ratio_table}\n"
        if RATIOS_BEGIN in text and RATIOS_END in text:
            text = replaced(text, RATIOS_BEGIN, RATIOS_END, block)
        else:
            before, rest = text.split(BEGIN, 1)
            text = before + f"{RATIOS_BEGIN}\n{block}{RATIOS_END}\n\n{BEGIN}" + rest
    target.write_text(text)


def replaced(text: str, begin: str, end: str, body: str) -> str:
    """Return `text` with `body` between its `begin` and `end` lines, or with the block appended without them."""
    block = f"{begin}\n{body}{end}"
    if begin in text and end in text:
        before, rest = text.split(begin, 1)
        return before + block + rest.split(end, 1)[1]
    return text + ("\n" if text and not text.endswith("\n") else "") + block + "\n"
