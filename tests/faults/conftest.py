"""Fixtures for the fault-injection suite: the integration fixtures, reused, plus the FAULT summary.

Every test here is marked `integration` and `faults` (run alone with
`-m faults`). Each fault test prints one line `FAULT <name>: published=...
delivered=... lost=... duplicated=...`; pytest's terminal summary repeats
them, and docs/reliability.md quotes a run.
"""

from tests.integration.conftest import (  # noqa: F401  (fixtures, found by name)
    Service,
    amqp_url,
    broker_proxy,
    deployment,
    make_deployment,
    make_proxy,
    service,
    static_files,
)

from .load import FAULT_LINES


def pytest_terminal_summary(terminalreporter) -> None:
    if FAULT_LINES:
        terminalreporter.section("faults: published and delivered")
        for line in FAULT_LINES:
            terminalreporter.write_line(line)
