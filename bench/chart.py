"""The ratio chart: deliveries a second and p99 per peer and workload, drawn from a run's JSON results.

    .venv/bin/python -m bench.chart RESULTS.json CHART.png

`bench.run --chart CHART.png` writes RESULTS (CHART with `.json`) and draws
CHART from it, so any run, or its kept results, can redraw the chart.
Needs matplotlib (requirements-bench.txt).
"""

import json
import math
import sys
from pathlib import Path

from .ratios import SYSTEMS, figure

# (panel title, y label, log scale, [(group label, case, field)])
PANELS = [
    (
        "Deliveries a second (higher is better)",
        "deliveries/s",
        False,
        [("W1 broadcast, saturated", "W1 saturated", "per_sec"), ("W2 per-user events", "W2", "per_sec")],
    ),
    (
        "p99 latency, publish to socket (lower is better)",
        "p99 ms (log)",
        True,
        [("W1 at 1 a second", "W1 at 1/s", "p99"), ("W2 per-user events", "W2", "p99")],
    ),
]


def draw(rows: list[dict], target: Path, title: str = "") -> None:
    """Draw the panels as grouped bars, one bar per system, into the PNG `target`."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure_, axes = pyplot.subplots(1, len(PANELS), figsize=(13, 5.2))
    for axis, panel in zip(axes, PANELS, strict=True):
        draw_panel(axis, rows, *panel)
    handles, labels = axes[0].get_legend_handles_labels()
    figure_.legend(handles, labels, loc="lower center", ncol=len(SYSTEMS), fontsize=8, frameon=False)
    if title:
        figure_.suptitle(title, fontsize=9)
    figure_.tight_layout(rect=(0, 0.06, 1, 1))
    target.parent.mkdir(parents=True, exist_ok=True)
    figure_.savefig(target, dpi=110)
    pyplot.close(figure_)


def draw_panel(axis, rows: list[dict], title: str, ylabel: str, log: bool, groups: list[tuple]) -> None:
    """One group of bars per workload, a bar per system with its figure on top; no bar where none was measured."""
    width = 0.8 / len(SYSTEMS)
    for i, (system, label) in enumerate(SYSTEMS.items()):
        values = [figure(rows, case, system, field) for _, case, field in groups]
        xs = [g + (i - (len(SYSTEMS) - 1) / 2) * width for g in range(len(groups))]
        axis.bar(xs, [math.nan if v is None else v for v in values], width, label=label)
        for x, value in zip(xs, values, strict=True):
            if value is not None:
                text = f"{value:,.0f}" if value >= 10 else f"{value:.1f}"
                axis.annotate(text, (x, value), ha="center", va="bottom", fontsize=7)
    axis.set_xticks(range(len(groups)), [group for group, _, _ in groups])
    axis.set_title(title, fontsize=10)
    axis.set_ylabel(ylabel)
    if log:
        axis.set_yscale("log")
    axis.grid(axis="y", alpha=0.3)


def save(rows: list[dict], chart: Path, title: str = "") -> Path:
    """Write the rows as JSON beside `chart` (same name, `.json`), then draw the chart from that file."""
    results = chart.with_suffix(".json")
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps({"title": title, "rows": rows}, indent=1))
    redraw(results, chart)
    return results


def redraw(results: Path, chart: Path) -> None:
    saved = json.loads(results.read_text())
    draw(saved["rows"], chart, saved.get("title", ""))


if __name__ == "__main__":
    redraw(Path(sys.argv[1]), Path(sys.argv[2]))
