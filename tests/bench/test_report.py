"""`--write`: the latest run's table, put into the docs without touching the rest (bench/report.py)."""

from bench import report

ROW = {
    "workload": "W2 per-user",
    "protocol": "stomp",
    "expected": 10,
    "delivered": 10,
    "lost": 0,
    "duplicated": 0,
    "out_of_order": 0,
    "per_sec": 5,
}


def test_a_new_file_holds_the_table_with_machine_versions_and_command(tmp_path):
    target = tmp_path / "run.md"
    report.write(str(target), [ROW], "python -m bench.run --only W2")
    text = target.read_text()
    assert "Command: `python -m bench.run --only W2`" in text
    assert "cores" in text and "Django " in text and "channels-rabbitmq " in text
    assert "| workload | protocol | expected | delivered | lost | duplicated | out_of_order | per_sec |" in text
    assert "| W2 per-user | stomp | 10 | 10 | 0 | 0 | 0 | 5 |" in text


def test_only_the_marked_block_of_the_docs_is_replaced(tmp_path):
    target = tmp_path / "benchmarks.md"
    target.write_text(f"# Benchmarks\n\nprose before\n\n{report.BEGIN}\nold table\n{report.END}\n\nprose after\n")
    report.write(str(target), [ROW], "python -m bench.run --write docs/benchmarks.md")
    text = target.read_text()
    assert text.startswith("# Benchmarks\n\nprose before\n\n" + report.BEGIN)
    assert text.endswith(report.END + "\n\nprose after\n")
    assert "old table" not in text and text.count(report.BEGIN) == 1
    assert "| W2 per-user |" in text


def test_a_file_without_the_block_gets_it_appended(tmp_path):
    target = tmp_path / "notes.md"
    target.write_text("my notes")
    report.write(str(target), [ROW], "python -m bench.run")
    text = target.read_text()
    assert text.startswith("my notes\n" + report.BEGIN)


def test_tagged_rows_put_the_ratio_table_between_its_own_markers(tmp_path):
    """A run with rows the ratio table knows writes it between its markers, above the raw table, then replaces it."""
    target = tmp_path / "benchmarks.md"
    target.write_text(f"# Benchmarks\n\n{report.BEGIN}\nold table\n{report.END}\n")
    tagged = {**ROW, "system": "webstomp", "case": "W2"}
    report.write(str(target), [tagged], "python -m bench.run --only peers", load="Load average 1.0.\n")
    first = target.read_text()
    assert first.index(report.RATIOS_BEGIN) < first.index(report.RATIOS_END) < first.index(report.BEGIN)
    assert "| W2 per-user events, delivered/s | 5 |" in first and "Load average 1.0." in first
    report.write(str(target), [{**tagged, "per_sec": 7}], "python -m bench.run --only peers")
    second = target.read_text()
    assert second.count(report.RATIOS_BEGIN) == 1 and "| W2 per-user events, delivered/s | 7 |" in second
