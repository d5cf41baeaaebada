"""The peers' server processes, started and stopped by the benchmark, by PID, on loopback ports of their own."""

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.integration.harness.ports import free_port
from tests.integration.harness.processes import stop_process

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_SECS = 30.0
STOP_TIMEOUT_SECS = 10.0


class PeerServer:
    """One server process: `start()` waits for `GET /healthz` to answer 200; `stop()` ends it (SIGTERM, SIGKILL)."""

    def __init__(self, name: str, command: list[str], log_dir: Path, env: dict[str, str] | None = None):
        self.name = name
        self.port = free_port()
        self.command = [arg.format(port=self.port) for arg in command]
        self.env = {**os.environ, **(env or {})}
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> "PeerServer":
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.process.returncode}: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0, trust_env=False).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name}: /healthz not 200 within {READY_TIMEOUT_SECS}s ({self.log_path})")

    def stop(self) -> None:
        stop_process(self.process, STOP_TIMEOUT_SECS)

    def __enter__(self) -> "PeerServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def bare_server(log_dir: Path) -> PeerServer:
    """The bare websockets server (the ceiling), one process."""
    return PeerServer("bare", [sys.executable, "-m", "bench.peers.bare_server", "{port}"], log_dir)


def socketio_server(log_dir: Path, amqp_url: str, exchange: str) -> PeerServer:
    """python-socketio's AsyncServer on AsyncAioPikaManager under uvicorn, one process, compression off."""
    command = [
        *(sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", "{port}"),
        *("--loop", "uvloop", "--http", "httptools", "--ws", "websockets", "--ws-per-message-deflate", "false"),
        *("--lifespan", "off", "--no-access-log", "--log-level", "warning", "bench.peers.socketio_app:app"),
    ]
    env = {"BENCH_SOCKETIO_AMQP_URL": amqp_url, "BENCH_SOCKETIO_EXCHANGE": exchange}
    return PeerServer("socketio", command, log_dir, env)
