"""scripts/test: a unit-test selection needs no broker and no system package; others get what they need."""

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UNIT_ONLY = "Unit tests only: no broker, browser or system package needed."


def collect_with_scripts_test(*args: str) -> str:
    """Run scripts/test with `--collect-only` (nothing runs) and return what it logged."""
    done = subprocess.run(
        ["scripts/test", *args, "--collect-only", "-q"], cwd=ROOT, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("-m", "not integration", "tests/test_conf.py"),
        ("-m", "not integration and not browser", "tests/test_conf.py"),
        ("tests/store/test_outbox.py",),
    ],
)
def test_a_unit_selection_ensures_no_service(args):
    """`-m "not integration"`, or paths outside the integration folders, skip the broker, browser and apt-get."""
    assert UNIT_ONLY in collect_with_scripts_test(*args)


@pytest.mark.parametrize(
    "args", [("tests/faults/test_poison_event.py",), ("-m", "integration", "tests/integration/test_fresh_clone.py")]
)
def test_a_selection_that_may_hold_integration_tests_ensures_the_services(args):
    """A selection that may start real processes makes sure the broker and the rest are there first."""
    assert UNIT_ONLY not in collect_with_scripts_test(*args)
