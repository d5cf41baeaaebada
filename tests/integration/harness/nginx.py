"""deploy/nginx.conf run in the foreground in front of given instances, ports and paths substituted.

proxy = Nginx(tmp_path, [a, b, c])   # round-robin over the three, as deployed
UserSession(proxy, "ada", pw)        # it is a target like an instance (`origin`)
proxy.stop()
"""

import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx

from .ports import free_port
from .processes import stop_process

PROJECT_DIR = Path(__file__).resolve().parents[3]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
START_TIMEOUT_SECS = 10.0
STOP_TIMEOUT_SECS = 5.0


class Nginx:
    """nginx with the shipped site file, its upstreams pointed at `instances`; each socket holds two connections."""

    def __init__(self, workdir: Path, instances, *, worker_connections: int = 512) -> None:
        self.port = free_port()
        self.workdir = Path(workdir)
        (self.workdir / "nginx.conf").write_text(self._config(instances, worker_connections))
        self.process = subprocess.Popen(
            [NGINX, "-p", str(self.workdir), "-c", str(self.workdir / "nginx.conf")],
            stdout=subprocess.DEVNULL,
            stderr=open(self.workdir / "stderr.log", "wb"),  # noqa: SIM115  (closed with the process)
        )
        self._wait_ready()

    def _config(self, instances, worker_connections: int) -> str:
        site = point_upstreams_at((PROJECT_DIR / "deploy" / "nginx.conf").read_text(), [i.port for i in instances])
        site = site.replace("listen 80;", f"listen 127.0.0.1:{self.port};")
        site = site.replace("/var/log/nginx/", f"{self.workdir}/")
        temp = "".join(
            f"    {kind}_temp_path {self.workdir}/{kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        return (
            f"daemon off;\nworker_processes 1;\nworker_rlimit_nofile {2 * worker_connections + 64};\n"
            f"pid {self.workdir}/nginx.pid;\nerror_log {self.workdir}/main.error.log warn;\n"
            f"events {{ worker_connections {worker_connections}; }}\nhttp {{\n{temp}{site}\n}}\n"
        )

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECS
        while True:
            assert self.process.poll() is None, (self.workdir / "stderr.log").read_text()
            try:
                if httpx.get(self.origin + "/healthz", timeout=1, trust_env=False).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "nginx did not answer"
            time.sleep(0.1)

    def access_log(self) -> str:
        path = self.workdir / "notify.access.log"
        return path.read_text() if path.exists() else ""

    def upstream_counts(self, path_prefix: str = "/ws/") -> dict[str, int]:
        """Return how many logged requests under `path_prefix` each upstream (`host:port`) served."""
        counts: dict[str, int] = {}
        for line in self.access_log().splitlines():
            match = re.search(r'"GET (\S+) [^"]*" (\d+) .* upstream=(.+)$', line)
            if match and match.group(1).startswith(path_prefix):
                for upstream in match.group(3).split(", "):
                    counts[upstream] = counts.get(upstream, 0) + 1
        return counts

    def stop(self) -> None:
        stop_process(self.process, STOP_TIMEOUT_SECS)


SERVER_LINE = re.compile(r"(?m)^    server 127\.0\.0\.1:800\d( [^;\n]*)?;\n")


def point_upstreams_at(site: str, ports: list[int]) -> str:
    """Replace each upstream block's example servers (127.0.0.1:800N) with `ports`, keeping the block's parameters."""
    seen_blocks: set[int] = set()

    def replace(match: re.Match) -> str:
        block = site.rfind("upstream ", 0, match.start())
        if block in seen_blocks:
            return ""
        seen_blocks.add(block)
        return "".join(f"    server 127.0.0.1:{port}{match.group(1) or ''};\n" for port in ports)

    return SERVER_LINE.sub(replace, site)
