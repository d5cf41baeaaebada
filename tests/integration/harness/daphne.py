"""One real daphne process serving project.asgi:application on a loopback port.

`server="uvicorn"` starts the same application under uvicorn instead (the
benchmark compares the two; daphne is the server we ship).
"""

import signal
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

import httpx

from .ports import free_port

PROJECT_DIR = Path(__file__).resolve().parents[3]
READY_TIMEOUT_SECS = 30.0
READY_POLL_SECS = 0.1
STOP_TIMEOUT_SECS = 10.0
SERVER_COMMANDS = {
    "daphne": lambda port: ["-m", "daphne", "-b", "127.0.0.1", "-p", str(port)],
    "uvicorn": lambda port: [
        *("-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port)),
        *("--loop", "uvloop", "--http", "httptools", "--ws", "websockets", "--lifespan", "off", "--no-access-log"),
    ],
}


class InstanceError(RuntimeError):
    """A daphne instance did not start or answer; the message carries its log's tail."""


class DaphneInstance:
    """A daphne subprocess with its own port and log file; restartable on the same port."""

    def __init__(
        self,
        name: str,
        env: dict[str, str],
        log_dir: Path,
        port: int | None = None,
        application: str = "project.asgi:application",
        server: str = "daphne",
    ) -> None:
        if server not in SERVER_COMMANDS:
            raise ValueError(f"server must be one of {sorted(SERVER_COMMANDS)}, not {server!r}")
        self.name = name
        self.application = application
        self.server = server
        self.env = env
        self.port = port or free_port()
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen | None = None
        self.starts = 0
        self._terminating = False

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return self.origin

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> "DaphneInstance":
        """Start the process (not waiting for it to answer; see `wait_ready`)."""
        if self.is_running:
            raise InstanceError(f"{self!r} is already running; call restart() to start it again")
        self.starts += 1
        self._terminating = False
        command = [sys.executable, *SERVER_COMMANDS[self.server](self.port), self.application]
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start #{self.starts} of {self.name} on port {self.port} =====\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                command,
                cwd=PROJECT_DIR,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def wait_ready(self, timeout: float = READY_TIMEOUT_SECS) -> "DaphneInstance":
        """Return once GET /healthz answers 200; raise InstanceError if the process dies or time runs out."""
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.url, timeout=1.0, trust_env=False) as client:
            while True:
                if not self.is_running:
                    raise InstanceError(
                        f"{self!r} exited with {self.process and self.process.returncode}\n" + self.log_report()
                    )
                if _answers_ok(client, "/healthz"):
                    return self
                if time.monotonic() > deadline:
                    raise InstanceError(f"{self!r}: /healthz not 200 within {timeout}s\n" + self.log_report())
                time.sleep(READY_POLL_SECS)

    def kill(self) -> None:
        """Crash the process (SIGKILL) and reap it."""
        self._stop(signal.SIGKILL)

    def terminate(self, timeout: float = STOP_TIMEOUT_SECS) -> None:
        """Stop the process gracefully (SIGTERM), killing it if it outlives `timeout`."""
        self._stop(signal.SIGTERM, timeout)

    def begin_terminate(self) -> None:
        """Send SIGTERM without waiting, so several instances shut down at once; `terminate()` then reaps."""
        if self.is_running:
            self.process.send_signal(signal.SIGTERM)
            self._terminating = True

    def restart(self, *, kill: bool = False, timeout: float = READY_TIMEOUT_SECS) -> "DaphneInstance":
        """Stop (SIGKILL if `kill`, else SIGTERM), start again on the same port, wait until ready."""
        if kill:
            self.kill()
        else:
            self.terminate()
        return self.start().wait_ready(timeout)

    def _stop(self, sig: signal.Signals, timeout: float = STOP_TIMEOUT_SECS) -> None:
        if not self.is_running:
            return
        if not (sig == signal.SIGTERM and self._terminating):
            self.process.send_signal(sig)
        self._terminating = False
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT_SECS)

    def log_tail(self, lines: int = 60) -> str:
        """Return the last lines of this instance's log (all its starts)."""
        if not self.log_path.exists():
            return ""
        with self.log_path.open(errors="replace") as log:
            return "".join(deque(log, maxlen=lines))

    def log_report(self, lines: int = 60) -> str:
        return f"----- {self.name} (log: {self.log_path}) last {lines} lines -----\n{self.log_tail(lines)}"

    def __repr__(self) -> str:
        state = "running" if self.is_running else "stopped"
        return f"<DaphneInstance {self.name} {self.origin} pid={self.pid} {state}>"


def _answers_ok(client: httpx.Client, path: str) -> bool:
    try:
        return client.get(path).status_code == 200
    except httpx.TransportError:
        return False
