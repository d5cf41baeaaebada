"""deploy/nginx.conf in front of two real daphne instances: sockets work through it, the Origin check holds."""

import os
import time

import httpx
import pytest

from .harness import UserSession, handshake_status, recv_until
from .harness.nginx import NGINX, Nginx
from .harness.stream import StreamFollower

PASSWORD = "correct-horse-battery"


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
