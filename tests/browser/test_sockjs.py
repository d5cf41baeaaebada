"""The browser client of Spring STOMP apps, unchanged: webstomp-client over sockjs-client in headless Chromium.

The page is served through nginx (the shipped site file) round-robin over
instances A and B with no stickiness, so a SockJS session's requests land
on both instances; the session lives on one and is reached from the other
through the channel layer. Once with WebSocket, once limited to
xhr-streaming and xhr-polling (as where WebSocket is blocked).
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.integration.harness import nginx as nginx_harness

from .pages import create_request, sign_in

NODE_MODULES = Path(__file__).resolve().parents[2] / "node_modules"

CONNECT = """(transports) => new Promise((resolve, reject) => {
  window.got = [];
  const options = transports ? {transports} : {};
  const sock = new SockJS("/sockjs/stomp", null, options);
  window.client = webstomp.over(sock, {debug: false, heartbeat: false});
  window.client.onreceipt = (frame) => resolve({
    transport: sock.transport, version: window.connected.version, user: window.connected["user-name"],
    receipt: frame.headers["receipt-id"],
  });
  window.client.connect({}, (frame) => {
    window.connected = frame.headers;
    window.client.subscribe("/user/queue/notifications", (message) => {
      window.got.push({destination: message.headers.destination, body: JSON.parse(message.body)});
    }, {receipt: "subscribed"});
  }, (error) => reject(String(error && error.headers ? error.headers.message : error)));
})"""


@dataclass
class NginxTarget:
    """nginx as a sign-in target (pages.sign_in wants `.url`)."""

    url: str


@pytest.fixture
def nginx(service, tmp_path) -> Iterator[nginx_harness.Nginx]:
    proxy = nginx_harness.Nginx(tmp_path, [service.a, service.b])
    yield proxy
    proxy.stop()


def upstreams_of_sockjs_requests(nginx: nginx_harness.Nginx) -> set[str]:
    return set(re.findall(r'"\w+ /sockjs/stomp/[^"]*" \d+ .* upstream=(\S+)', nginx.access_log()))


def load_clients(page: Page) -> None:
    page.add_script_tag(path=str(NODE_MODULES / "sockjs-client" / "dist" / "sockjs.min.js"))
    page.add_script_tag(path=str(NODE_MODULES / "webstomp-client" / "dist" / "webstomp.min.js"))


@pytest.mark.parametrize(
    ("transports", "expected"),
    [(None, "websocket"), (["xhr-streaming"], "xhr-streaming"), (["xhr-polling"], "xhr-polling")],
)
def test_webstomp_over_sockjs_through_round_robin_nginx_gets_live_events(service, nginx, context, transports, expected):
    """CONNECTED as the signed-in user, RECEIPT of the SUBSCRIBE, then a published event as a MESSAGE."""
    page = sign_in(context.new_page(), NginxTarget(nginx.origin), "ada")
    load_clients(page)
    connected = page.evaluate(CONNECT, transports)
    assert connected == {"transport": expected, "version": "1.2", "user": "ada", "receipt": "subscribed"}
    with service.publisher(service.a) as publisher:
        create_request(publisher, "ada", f"Through nginx over {expected}")
    page.wait_for_function("() => window.got.length >= 1")
    (message,) = page.evaluate("window.got")
    assert message["destination"] == "/user/queue/notifications"
    assert (
        message["body"]["type"] == "event" and message["body"]["request"]["title"] == f"Through nginx over {expected}"
    )
    if expected != "websocket":
        assert len(upstreams_of_sockjs_requests(nginx)) == 2, nginx.access_log()
    page.evaluate("window.client.disconnect()")
