"""A newcomer's path: clone, `scripts/run`, then the README's management commands, exactly as written."""

import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.integration.harness.ports import free_port
from tests.test_readme import shell_commands

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECS = 180
COMMAND_TIMEOUT_SECS = 120


def readme_command(fragment: str) -> str:
    """Return the README's shell command containing `fragment`, less its comment."""
    (command,) = [command for command in shell_commands() if fragment in command]
    return command


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A clone of the committed project, `../shared` beside it, reusing this virtualenv (installing is not tested)."""
    subprocess.run(["git", "clone", "-q", str(ROOT), str(tmp_path / "main")], check=True, timeout=COMMAND_TIMEOUT_SECS)
    (tmp_path / "shared").symlink_to(ROOT.parent / "shared")
    (tmp_path / "main" / ".venv").symlink_to(ROOT / ".venv")
    return tmp_path / "main"


def newcomer_env(**extra: str) -> dict:
    """A shell with nothing of ours configured: no secret key, no database URL, no NOTIFY_* variable."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("NOTIFY_", "DJANGO_", "DATABASE_", "PYTEST_")) and name != "VIRTUAL_ENV"
    }
    return {**env, **extra}


def run_readme(clone: Path, command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        shlex.split(command),
        cwd=clone,
        env=newcomer_env(),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_SECS,
    )


def wait_until_serving(process: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECS
    while time.monotonic() < deadline:
        assert process.poll() is None, f"scripts/run exited with {process.returncode}:\n{log.read_text()[-3000:]}"
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)  # polling a port that has nothing to await on
    pytest.fail(f"scripts/run did not serve {url} within {START_TIMEOUT_SECS}s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def served(clone: Path):
    """`scripts/run` in the clone, as the README says, on a free port and without the demo worker."""
    port = free_port()
    log = clone / "run.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            ["scripts/run"],
            cwd=clone,
            env=newcomer_env(PORT=str(port), NOTIFY_DEMO_WORKER="0"),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_serving(process, f"http://127.0.0.1:{port}/healthz", log)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def test_the_readmes_create_service_token_works_after_scripts_run_and_its_token_publishes(clone, served):
    """After `scripts/run`, the README's create_service_token runs as written and gives a token the server takes."""
    result = run_readme(clone, readme_command("create_service_token"))
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]
    response = httpx.post(
        f"{served}/api/v1/requests/",
        headers={"Authorization": f"Token {token}"},
        json={"title": "Monthly report", "user": "demo"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    assert (clone / "var" / "secret_key").is_file()


def test_the_readmes_operator_commands_run_as_written(clone, served):
    """`prune_events --help` and `help`, with the virtualenv's Python and no secret key in the environment."""
    for command in (".venv/bin/python manage.py prune_events --help", ".venv/bin/python manage.py help"):
        assert command.split(" --")[0] in open(clone / "README.md").read().replace("\n", " ")
        result = run_readme(clone, command)
        assert result.returncode == 0, (command, result.stderr)
