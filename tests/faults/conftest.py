"""Fixtures for the fault-injection suite: the integration fixtures, reused, plus the FAULT summary.

Every test here is marked `integration` and `faults` (run alone with
`-m faults`). Each fault test prints one line `FAULT <name>: published=...
delivered=... lost=... duplicated=...`; pytest's terminal summary repeats
them, and docs/reliability.md quotes a run.
"""

import os

import pytest

from tests.integration.conftest import (  # noqa: F401  (fixtures, found by name)
    Service,
    amqp_url,
    broker_proxy,
    deployment,
    make_deployment,
    make_proxy,
    pytest_runtest_makereport,
    service,
    static_files,
)

from .load import FAULT_LINES


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.integration)
            item.add_marker(pytest.mark.faults)


def pytest_terminal_summary(terminalreporter) -> None:
    if FAULT_LINES:
        terminalreporter.section("faults: published and delivered")
        for line in FAULT_LINES:
            terminalreporter.write_line(line)
