"""The load-generator process a benchmark run drives, and the memory of the processes it measures."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import caught_up

ROOT = Path(__file__).resolve().parent.parent
PY_SPY = Path(sys.executable).parent / "py-spy"


class LoadGenerator:
    """The load-generator subprocess (`bench/loadgen.py`): connect, report READY, collect, write a result file."""

    def __init__(self, clients: list[dict], protocol: str, expect: int, timeout: float):
        self.dir = Path(tempfile.mkdtemp(prefix="bench-"))
        spec = {"clients": clients, "protocol": protocol, "expect": expect, "timeout": timeout}
        (self.dir / "spec.json").write_text(json.dumps(spec))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.loadgen", str(self.dir / "spec.json"), str(self.dir / "result.json")],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def wait_ready(self, timeout: float = 180) -> float:
        """Return the seconds it took every client to connect (and resume); raise if it failed or took too long."""
        started = time.time()
        line = self.process.stdout.readline()
        if not line.startswith("READY"):
            raise RuntimeError(f"load generator did not connect: {line!r}")
        if time.time() - started > timeout:
            raise RuntimeError("load generator took too long to connect")
        return time.time() - started

    def finish(self, timeout: float) -> dict:
        """Wait for every expected delivery (or `timeout`), then return the result."""
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.stdin.write("stop\n")
            self.process.stdin.flush()
            self.process.wait(timeout=60)
        return json.loads((self.dir / "result.json").read_text())

    def stop(self) -> dict:
        self.process.stdin.write("stop\n")
        self.process.stdin.flush()
        return self.finish(60)


def rss_kib(pid: int) -> int:
    """Return the resident memory of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Observation:
    """While a workload runs: the CPU seconds of every process in it, and py-spy profiles of our instances.

    Profiles are recorded only with a folder (`--profile DIR`). They sample
    the thread holding the GIL, so they show where the interpreter spends its
    time, not threads waiting on sockets.
    """

    def __init__(
        self,
        name: str,
        instances: dict[str, int],
        load: "LoadGenerator | None",
        folder: Path | None,
        scraped: list | None = None,
    ):
        self.name, self.instances, self.folder = name, instances, folder
        # Instances of ours whose /metrics tell how much live delivery was caught up from the database.
        self.scraped = scraped or []
        self._counts_before: dict[str, float] | None = None
        self.caught_up_pct: float | None = None
        processes = {label: [pid] for label, pid in instances.items()}
        processes["publishers"] = [os.getpid()]
        if load is not None:
            processes["loadgen"] = [load.process.pid]
        self.meter = CpuMeter(processes)
        self.spies: list[subprocess.Popen] = []
        self.cpu = ""
        self.cpu_by_name: dict[str, float] = {}

    def __enter__(self) -> "Observation":
        if self.folder is not None:
            self._start_spies()
        if self.scraped:
            self._counts_before = caught_up.counts(self.scraped)
        self.meter.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.cpu = self.meter.stop()
        self.cpu_by_name = self.meter.used
        if self._counts_before is not None and exc_info[0] is None:
            self.caught_up_pct = caught_up.share_pct(self._counts_before, caught_up.counts(self.scraped))
        for spy in self.spies:
            spy.send_signal(signal.SIGINT)
        for spy in self.spies:
            spy.wait(timeout=60)

    def _start_spies(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        slug = "".join(c if c.isalnum() else "-" for c in self.name).strip("-")
        for label, pid in self.instances.items():
            output = self.folder / f"{slug}-{label}.txt"
            command = [str(PY_SPY), "record", "--pid", str(pid), "--rate", "200", "--gil", "--format", "raw"]
            self.spies.append(
                subprocess.Popen(
                    [*command, "--output", str(output)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
            )
        time.sleep(0.5)  # let py-spy attach before the load starts


def cpu_seconds(pid: int, children: bool = False) -> float | None:
    """Return the CPU time (user and system) a process has used so far, or that of its reaped children.

    None when the process is gone.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    first = 13 if children else 11
    return sum(int(value) for value in fields[first : first + 2]) / os.sysconf("SC_CLK_TCK")


def pids_of(command_name: str) -> list[int]:
    """Return the ids of the processes whose command name is `command_name` (postgres, beam.smp)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == command_name:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


class CpuMeter:
    """CPU seconds each named group of processes spent between `start()` and `stop()`.

    A child of this process that exits meanwhile (the load generator) is
    counted from this process's reaped-children time.
    """

    SERVICES = {"postgres": "postgres", "rabbitmq": "beam.smp", "redis": "redis-server"}
    REAPED = "reaped children"

    def __init__(self, processes: dict[str, list[int]]):
        named = {pid for pids in processes.values() for pid in pids}  # a peer's private broker counts as the peer
        services = {name: [pid for pid in pids_of(comm) if pid not in named] for name, comm in self.SERVICES.items()}
        self.processes = {**processes, **services}
        self.started: dict[str, float] = {}
        self.used: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        now = {name: sum(cpu_seconds(pid) or 0.0 for pid in pids) for name, pids in self.processes.items()}
        now[self.REAPED] = cpu_seconds(os.getpid(), children=True) or 0.0
        return now

    def start(self) -> "CpuMeter":
        self.started = self._now()
        return self

    def stop(self) -> str:
        """Return 'name seconds' for every group that used CPU, busiest first."""
        used = {name: seconds - self.started.get(name, 0.0) for name, seconds in self._now().items()}
        gone = [name for name, pids in self.processes.items() if pids and cpu_seconds(pids[0]) is None]
        for name in gone:  # it exited: its time is in the reaped children's
            used[name] = used.pop(self.REAPED, 0.0)
        used.pop(self.REAPED, None)
        self.used = used
        return ", ".join(
            f"{name} {seconds:.1f}" for name, seconds in sorted(used.items(), key=lambda x: -x[1]) if seconds >= 0.05
        )
