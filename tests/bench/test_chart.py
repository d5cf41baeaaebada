"""The ratio chart (bench/chart.py) is drawn from a run's saved JSON results, and redrawn from them."""

import json

from bench import chart

ROWS = [
    {"system": "webstomp", "case": "W1 saturated", "per_sec": 9000},
    {"system": "ours-1", "case": "W1 saturated", "per_sec": 12000},
    {"system": "ours-1", "case": "W1 at 1/s", "p99": 40.5},
    {"system": "bare", "case": "W2", "per_sec": 30000, "p99": 3.2},
]


def test_save_writes_the_results_beside_the_png_and_draws_it(tmp_path):
    """The PNG is a real image and the JSON beside it holds the rows it was drawn from."""
    target = tmp_path / "img" / "peers.png"
    results = chart.save(ROWS, target, "a run")
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert results == tmp_path / "img" / "peers.json"
    assert json.loads(results.read_text()) == {"title": "a run", "rows": ROWS}
    target.unlink()
    chart.redraw(results, target)
    assert target.stat().st_size > 10_000
