"""The ratio table (bench/ratios.py): every peer's figure per workload, each target's ratio and verdict."""

from bench import ratios


def row(system: str, case: str, **figures) -> dict:
    counts = {"expected": 10, "delivered": 10, "lost": 0, "duplicated": 0, "out_of_order": 0}
    return {"workload": f"{case} ({system})", "system": system, "case": case, **counts, **figures}


ROWS = [
    row("webstomp", "W1 saturated", per_sec=10_000),
    row("socketio", "W1 saturated", per_sec=4_000),
    row("bare", "W1 saturated", per_sec=40_000),
    row("ours-1", "W1 saturated", per_sec=12_000),
    row("bare", "W1 at 1/s", p99=10.0),
    row("ours-1", "W1 at 1/s", p99=30.0),
    row("webstomp", "W2", per_sec=2_000),
    row("ours-2", "W2", per_sec=3_000),
    {"workload": "W3 (ours)", "system": "ours-1", "case": "W3", "connect_per_sec": 1_200, "kib_per_connection": 30.0},
]


def lines_of(text: str) -> dict[str, list[str]]:
    """Return each table line's cells by its first cell."""
    cells = [
        [cell.strip() for cell in line.strip("|").split("|")] for line in text.splitlines() if line.startswith("|")
    ]
    return {line[0]: line[1:] for line in cells}


def test_each_target_gets_its_ratio_and_verdict():
    """Ratios are ours over the peer's (or the number's); lower-is-better targets are met at or under the bound."""
    targets = lines_of(ratios.targets_table(ROWS))
    assert targets["W1 saturated per instance ≥ Web-STOMP's"] == [
        "12,000",
        "10,000 (RabbitMQ Web-STOMP)",
        "1.20",
        "≥ 1",
        "met",
    ]
    assert targets["W1 saturated per instance ≥ 1.5x socketio's"][2:] == ["3.00", "≥ 1.5", "met"]
    assert targets["W1 saturated per instance ≥ half of bare"][2:] == ["0.30", "≥ 0.5", "**not met**"]
    assert targets["W1 at 1/s, p99 ≤ 1.2x the bare server's"][2:] == ["3.00", "≤ 1.2", "**not met**"]
    assert targets["W2 with batches on 2 instances ≥ 2x Web-STOMP's"][2:] == ["1.50", "≥ 2", "**not met**"]
    assert targets["W3 ≥ 1,000 authenticated connects/s"] == ["1,200", "1000", "1.20", "≥ 1", "met"]
    assert targets["W3 ≤ 25 KiB per idle socket"] == ["30.0", "25", "1.20", "≤ 1", "**not met**"]


def test_a_figure_not_measured_says_so_rather_than_passing():
    """Without the peer's row the target is 'not measured' and its cells are dashes."""
    targets = lines_of(ratios.targets_table([row("ours-1", "W1 saturated", per_sec=5)]))
    assert targets["W1 saturated per instance ≥ Web-STOMP's"][2:] == ["—", "≥ 1", "not measured"]


def test_the_figures_table_has_a_column_per_system_and_the_order_checks():
    """One column per peer and for ours; the last line sums what the order checks found per system."""
    lossy = {**row("socketio", "W2", per_sec=900), "lost": 3, "out_of_order": 1}
    figures = lines_of(ratios.figures_table([*ROWS, lossy]))
    assert figures["workload"] == list(ratios.SYSTEMS.values())
    assert figures["W1 broadcast to every socket, deliveries/s"] == ["10,000", "4,000", "—", "40,000", "12,000", "—"]
    checks = figures["deliveries checked (lost, twice, out of order per stream)"]
    assert checks[0] == "all, once, in order" and checks[1] == "**3 lost, 0 twice, 1 out of order**"


def test_no_tagged_rows_no_table():
    assert ratios.table([{"workload": "W2 per-user", "per_sec": 5}]) == ""
