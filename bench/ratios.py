"""The ratio table: each workload's figure for every peer and for ours, and each target's ratio, met or not.

Rows are found by the `system` and `case` a workload tags them with, never
by their names. Pure: rows in, markdown out.
"""

from typing import NamedTuple

# The columns, in the order the table prints them.
SYSTEMS = {
    "webstomp": "RabbitMQ Web-STOMP",
    "socketio": "python-socketio + aio-pika",
    "naive": "naive Channels (2 instances)",
    "bare": "bare websockets (ceiling)",
    "ours-1": "ours, 1 instance",
    "ours-2": "ours, 2 instances",
}
# The table's lines: (label, case, the row's field). Higher is better except for p99 and KiB.
FIGURES = [
    ("W1 broadcast to every socket, deliveries/s", "W1 saturated", "per_sec"),
    ("W1 at 1 a second, p99 ms", "W1 at 1/s", "p99"),
    ("W2 per-user events, delivered/s", "W2", "per_sec"),
    ("W2 one event per `POST /api/v1/events/`, stored/s", "W2 one a call", "posts_per_sec"),
    ("W3 connects/s", "W3", "connect_per_sec"),
    ("W3 KiB per idle socket", "W3", "kib_per_connection"),
]


class Target(NamedTuple):
    """Ours (`system`) on `case`'s `field` against a peer's same figure (`against`) or a number, as a ratio."""

    label: str
    case: str
    field: str
    system: str
    against: str | float
    rule: str  # ">=" or "<="
    needed: float


TARGETS = [
    Target("W1 saturated per instance ≥ Web-STOMP's", "W1 saturated", "per_sec", "ours-1", "webstomp", ">=", 1),
    Target("W1 saturated per instance ≥ 1.5x socketio's", "W1 saturated", "per_sec", "ours-1", "socketio", ">=", 1.5),
    Target("W1 saturated per instance ≥ half of bare", "W1 saturated", "per_sec", "ours-1", "bare", ">=", 0.5),
    Target("W1 at 1/s, p99 ≤ 1.2x the bare server's", "W1 at 1/s", "p99", "ours-1", "bare", "<=", 1.2),
    Target("W2 with batches on 2 instances ≥ 2x Web-STOMP's", "W2", "per_sec", "ours-2", "webstomp", ">=", 2),
    Target("W3 ≥ 1,000 authenticated connects/s", "W3", "connect_per_sec", "ours-1", 1000, ">=", 1),
    Target("W3 ≤ 25 KiB per idle socket", "W3", "kib_per_connection", "ours-1", 25, "<=", 1),
]  # fmt: skip
RULES = {">=": "≥", "<=": "≤"}


def find(rows: list[dict], case: str, system: str) -> dict | None:
    """Return the last row of `system` for `case` (a later run of the same case wins)."""
    found = [row for row in rows if row.get("case") == case and row.get("system") == system]
    return found[-1] if found else None


def figure(rows: list[dict], case: str, system: str, field: str) -> float | None:
    row = find(rows, case, system)
    return None if row is None else row.get(field)


def shown(value: float | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}"


def checked(rows: list[dict], system: str) -> str:
    """Return what the order checks found over every tagged row of `system`: 'all in order' or the counts."""
    mine = [row for row in rows if row.get("system") == system and "expected" in row]
    if not mine:
        return "—"
    lost, duplicated, disordered = (
        sum(row.get(k) or 0 for row in mine) for k in ("lost", "duplicated", "out_of_order")
    )
    failed = sum(1 for row in mine if row.get("failure"))
    if not (lost or duplicated or disordered or failed):
        return "all, once, in order"
    return f"**{lost} lost, {duplicated} twice, {disordered} out of order" + (
        f", {failed} failed**" if failed else "**"
    )


def figures_table(rows: list[dict]) -> str:
    lines = ["| workload | " + " | ".join(SYSTEMS.values()) + " |", "|---" * (len(SYSTEMS) + 1) + "|"]
    for label, case, field in FIGURES:
        cells = [shown(figure(rows, case, system, field)) for system in SYSTEMS]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append(
        "| deliveries checked (lost, twice, out of order per stream) | "
        + " | ".join(checked(rows, s) for s in SYSTEMS)
        + " |"
    )
    return "\n".join(lines)


def verdict(ours: float | None, peer: float | None, rule: str, needed: float) -> tuple[str, str]:
    """Return the ratio ours/peer as text and 'met', 'not met' or 'not measured'."""
    if ours is None or not peer:
        return "—", "not measured"
    ratio = ours / peer
    met = ratio >= needed if rule == ">=" else ratio <= needed
    return f"{ratio:.2f}", "met" if met else "**not met**"


def targets_table(rows: list[dict]) -> str:
    lines = ["| target | ours | against | ratio | needed | verdict |", "|---|---|---|---|---|---|"]
    for target in TARGETS:
        ours = figure(rows, target.case, target.system, target.field)
        if isinstance(target.against, str):
            peer = figure(rows, target.case, target.against, target.field)
            against = f"{shown(peer)} ({SYSTEMS[target.against]})"
        else:
            peer = against = target.against
        ratio, met = verdict(ours, peer, target.rule, target.needed)
        needed = f"{RULES[target.rule]} {target.needed}"
        lines.append(f"| {target.label} | {shown(ours)} | {against} | {ratio} | {needed} | {met} |")
    return "\n".join(lines)


def table(rows: list[dict]) -> str:
    """Return the figures per peer and workload, then the targets' ratios; empty without tagged rows."""
    if not any(row.get("system") for row in rows):
        return ""
    return figures_table(rows) + "\n\n" + targets_table(rows)
