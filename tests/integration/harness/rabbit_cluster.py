"""Private RabbitMQ nodes on this machine, clustered, for tests that crash a broker node.

Each node runs the Debian installation's `rabbitmq-server` with every path,
port and the Erlang cookie in its own folder, and a node name no other run
uses, so the shared broker (rabbit@localhost on 5672) is never addressed:
every `rabbitmqctl` call names its node with `-n` and reads our cookie.
A node is stopped by killing the `beam.smp` whose PID it wrote itself.
"""

import os
import secrets
import signal
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .ports import free_port

SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
CTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"
START_TIMEOUT_SECS = 90.0
CTL_TIMEOUT_SECS = 60.0
STOP_TIMEOUT_SECS = 20.0
AMQP_HEADER = b"AMQP\x00\x00\x09\x01"
SHARED_NODE = "rabbit@localhost"


class RabbitNodeError(RuntimeError):
    """A private node did not start, answer or obey in time; the message carries its log's tail."""


class RabbitNode:
    """One private node: `start()`, `wait_ready()`, `kill()` (a crash), `stop()`; folders survive a restart."""

    def __init__(self, name: str, folder: Path, cookie: str):
        if name == SHARED_NODE:
            raise ValueError("the shared node is never started or stopped by tests")
        self.name = name
        self.folder = Path(folder)
        self.amqp_port = free_port()
        self.dist_port = free_port()
        self.pid: int | None = None
        self._launcher: subprocess.Popen | None = None
        self._prepare(cookie)

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.amqp_port}"

    def _prepare(self, cookie: str) -> None:
        for sub in ("home", "mnesia", "log"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        cookie_file = self.folder / "home" / ".erlang.cookie"
        cookie_file.write_text(cookie)
        cookie_file.chmod(0o400)
        (self.folder / "rabbitmq.conf").write_text(f"listeners.tcp.default = 127.0.0.1:{self.amqp_port}\n")
        (self.folder / "enabled_plugins").write_text("[].\n")
        (self.folder / "rabbitmq-env.conf").write_text("")

    def env(self) -> dict[str, str]:
        """Return the environment of this node's server and of `rabbitmqctl` against it."""
        env = {key: value for key, value in os.environ.items() if not key.startswith(("RABBITMQ_", "ERL_"))}
        env.update(
            HOME=str(self.folder / "home"),
            RABBITMQ_NODENAME=self.name,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.amqp_port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(self.folder / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.folder / "log"),
            RABBITMQ_PID_FILE=str(self.folder / "node.pid"),
            RABBITMQ_CONFIG_FILE=str(self.folder / "rabbitmq.conf"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.folder / "enabled_plugins"),
            RABBITMQ_CONF_ENV_FILE=str(self.folder / "rabbitmq-env.conf"),
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}",
            ERL_EPMD_ADDRESS="127.0.0.1",
        )
        return env

    # --- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        """Launch the server in the background (same folders as before, so durable state survives)."""
        if self.running():
            raise RabbitNodeError(f"{self.name} is already running (pid {self.pid})")
        (self.folder / "node.pid").unlink(missing_ok=True)
        out = open(self.folder / "server.out", "ab")
        self._launcher = subprocess.Popen(
            [SERVER], env=self.env(), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
        out.close()

    def wait_ready(self, timeout: float = START_TIMEOUT_SECS) -> float:
        """Wait until the node answers the AMQP handshake and its beam PID is known; return the seconds taken."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self._launcher is not None and self._launcher.poll() is not None:
                raise RabbitNodeError(f"{self.name} exited {self._launcher.returncode}\n{self.log_tail()}")
            if self.pid is None:
                self.pid = self._read_pid()
            if self.pid is not None and answers_amqp(self.amqp_port):
                return time.monotonic() - started
            time.sleep(0.25)
        raise RabbitNodeError(f"{self.name} did not answer AMQP on {self.amqp_port} in {timeout}s\n{self.log_tail()}")

    def _read_pid(self) -> int | None:
        """Return the PID the node wrote, once it is a beam.smp started with this node's name."""
        try:
            pid = int((self.folder / "node.pid").read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            status = Path(f"/proc/{pid}/stat").read_text()
        except (OSError, ValueError):
            return None
        ours = f"RABBITMQ_NODENAME={self.name}".encode() in environ
        alive = status.rsplit(")", 1)[-1].split()[0] != "Z"
        return pid if b"beam" in cmdline and ours and alive else None

    def running(self) -> bool:
        return self.pid is not None and self._read_pid() == self.pid

    def kill(self) -> None:
        """Crash the node: SIGKILL its beam.smp (and nothing else), then reap the launcher."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        """Stop the node gracefully (SIGTERM to its beam), or kill it past STOP_TIMEOUT_SECS."""
        self._signal(signal.SIGTERM)

    def _signal(self, sig: int) -> None:
        if self.pid is None:
            self.pid = self._read_pid()  # a node stopped before wait_ready saw its PID
        if self.running():
            os.kill(self.pid, sig)
            self._wait_gone(STOP_TIMEOUT_SECS if sig != signal.SIGKILL else 10.0)
            if self.running():
                os.kill(self.pid, signal.SIGKILL)
                self._wait_gone(10.0)
        self.pid = None
        if self._launcher is not None:
            try:
                self._launcher.wait(10)
            except subprocess.TimeoutExpired:
                self._launcher.kill()  # the wrapper shell we started ourselves
                self._launcher.wait(5)
            self._launcher = None

    def _wait_gone(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.running() and time.monotonic() < deadline:
            if self._launcher is not None:
                self._launcher.poll()  # reap, so the beam does not linger as a zombie
            time.sleep(0.1)

    def restart(self, timeout: float = START_TIMEOUT_SECS) -> float:
        """Start the node again on the same folders and ports; return the seconds until it answers AMQP."""
        self.start()
        return self.wait_ready(timeout)

    # --- control -------------------------------------------------------------------

    def ctl(self, *args: str, timeout: float = CTL_TIMEOUT_SECS) -> str:
        """Run `rabbitmqctl -n <this node> ARGS` with this node's cookie; return stdout, raise on failure."""
        command = [CTL, "-n", self.name, *args]
        cli_port = str(free_port())  # the CLI's own distribution port; its default range is shared by every run
        env = {**self.env(), "RABBITMQ_CTL_DIST_PORT_MIN": cli_port, "RABBITMQ_CTL_DIST_PORT_MAX": cli_port}
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RabbitNodeError(f"rabbitmqctl {' '.join(command[1:])} exited {done.returncode}\n{done.stderr}")
        return done.stdout

    def join(self, seed: "RabbitNode") -> None:
        """Make this (running) node a member of `seed`'s cluster."""
        self.ctl("stop_app")
        self.ctl("join_cluster", seed.name)
        self.ctl("start_app")
        self.wait_ready()

    def log_tail(self, lines: int = 30) -> str:
        logs = sorted((self.folder / "log").glob("*.log")) + [self.folder / "server.out"]
        tails = []
        for path in logs:
            if path.exists():
                tails.append(f"--- {path}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(tails)

    def __repr__(self) -> str:
        return f"<RabbitNode {self.name} amqp={self.amqp_port} pid={self.pid}>"


class RabbitCluster:
    """Three (or `size`) private nodes sharing one cookie, clustered with the first; close() stops them all."""

    def __init__(self, folder: Path, size: int = 3):
        self.folder = Path(folder)
        tag = secrets.token_hex(4)
        cookie = secrets.token_hex(20).upper()
        self.nodes = [
            RabbitNode(f"notify-it-{tag}-{n}@localhost", self.folder / f"node{n}", cookie) for n in range(1, size + 1)
        ]

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def start(self) -> None:
        """Start every node at once, wait for each, then join the others to the first."""
        try:
            for node in self.nodes:
                node.start()
            with ThreadPoolExecutor(len(self.nodes)) as pool:
                list(pool.map(lambda node: node.wait_ready(), self.nodes))
            for node in self.nodes[1:]:
                node.join(self.nodes[0])
        except BaseException:
            self.close()
            raise

    def members(self) -> str:
        """Return `cluster_status` as the first running node reports it."""
        node = next(node for node in self.nodes if node.running())
        return node.ctl("cluster_status")

    def close(self) -> None:
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            list(pool.map(lambda node: node.stop(), self.nodes))

    def __enter__(self) -> "RabbitCluster":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def answers_amqp(port: int, timeout: float = 2.0) -> bool:
    """Return whether 127.0.0.1:port answers the AMQP 0-9-1 header with a method frame (Connection.Start)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(AMQP_HEADER)
            return sock.recv(1) == b"\x01"
    except OSError:
        return False
