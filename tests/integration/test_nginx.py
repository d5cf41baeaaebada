"""deploy/nginx.conf in front of two real daphne instances: sockets work through it, the Origin check holds."""

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from .harness import UserSession, free_port, handshake_status, recv_until
from .harness.stream import StreamFollower

PROJECT_DIR = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
PASSWORD = "correct-horse-battery"
START_TIMEOUT_SECS = 10.0


class Nginx:
    """nginx in the foreground with the shipped site file, its upstreams pointed at the given instances."""

    def __init__(self, workdir: Path, instances) -> None:
        self.port = free_port()
        self.workdir = workdir
        site = (PROJECT_DIR / "deploy" / "nginx.conf").read_text()
        upstreams = "".join(f"    server 127.0.0.1:{i.port} max_fails=1 fail_timeout=5s;\n" for i in instances)
        site = re.sub(r"(?m)^    server 127\.0\.0\.1:800\d .*\n", "", site)
        site = site.replace("upstream notify {\n", "upstream notify {\n" + upstreams)
        site = site.replace("listen 80;", f"listen 127.0.0.1:{self.port};")
        site = site.replace("/var/log/nginx/", f"{workdir}/")
        temp = "".join(
            f"    {kind}_temp_path {workdir}/{kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        (workdir / "nginx.conf").write_text(
            f"daemon off;\nworker_processes 1;\npid {workdir}/nginx.pid;\nerror_log {workdir}/main.error.log warn;\n"
            f"events {{ worker_connections 512; }}\nhttp {{\n{temp}{site}\n}}\n"
        )
        self.process = subprocess.Popen(
            [NGINX, "-p", str(workdir), "-c", str(workdir / "nginx.conf")],
            stdout=subprocess.DEVNULL,
            stderr=open(workdir / "stderr.log", "wb"),  # noqa: SIM115  (closed with the process)
        )
        self._wait_ready()

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

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@pytest.fixture
def nginx_in_front(service, tmp_path):
    if not os.path.exists(NGINX):
        pytest.fail("nginx is not installed; scripts/test installs Debian's nginx-light")
    proxy = Nginx(tmp_path, [service.a, service.b])
    yield proxy
    proxy.stop()


async def test_sockets_through_nginx_get_events_from_both_instances(service, nginx_in_front):
    """Users connected through nginx (spread over A and B) get their events and announcements."""
    ada = StreamFollower(UserSession(nginx_in_front, "ada", PASSWORD).login())
    bob = StreamFollower(UserSession(nginx_in_front, "bob", PASSWORD).login())
    await ada.connect(nginx_in_front)
    await bob.connect(nginx_in_front)
    with service.publisher(nginx_in_front) as publisher:
        created = publisher.post_json("/api/v1/requests/", {"title": "Through nginx", "user": "ada"})
        assert created.status_code == 201, created.text
        assert publisher.post_json("/api/v1/broadcasts/", {"title": "Hello via nginx"}).status_code == 202
    await ada.read_until_count(2, timeout=10)
    await bob.read_until_count(1, timeout=10)
    assert ada.events[0]["request"]["title"] == "Through nginx" and bob.events[0]["title"] == "Hello via nginx"
    await ada.disconnect()
    await bob.disconnect()


async def test_the_origin_check_holds_behind_nginx(service, nginx_in_front):
    """The page's own origin (nginx's host) is accepted; a foreign or missing Origin is still refused."""
    session = UserSession(nginx_in_front, "ada", PASSWORD).login()
    headers = {"Cookie": session.cookie_header()}
    assert await handshake_status(nginx_in_front, headers=headers) == 101
    assert await handshake_status(nginx_in_front, origin="http://evil.example", headers=headers) == 403
    assert await handshake_status(nginx_in_front, origin=None, headers=headers) == 403


async def test_a_ticket_never_reaches_nginxs_log_and_metrics_are_not_proxied(service, nginx_in_front):
    """The access log records paths without query strings; /metrics is not served through the proxy."""
    session = UserSession(nginx_in_front, "ada", PASSWORD).login()
    ticket = session.post_json("/api/v1/ws-tickets/", {}).json()["ticket"]
    from .harness import connect_ws

    async with connect_ws(nginx_in_front, query={"ticket": ticket}) as ws:
        assert (await recv_until(ws, lambda f: f["type"] == "welcome"))["user"]["username"] == "ada"
    assert httpx.get(nginx_in_front.origin + "/metrics", trust_env=False).status_code == 404
    deadline = time.monotonic() + 5
    while "/ws/notifications/" not in nginx_in_front.access_log():
        assert time.monotonic() < deadline, "nginx logged no socket"
        time.sleep(0.1)
    assert ticket not in nginx_in_front.access_log()
