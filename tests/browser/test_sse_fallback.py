"""Server-Sent Events in a real browser: EventSource against real daphne instances, and the dashboard's fallback.

EventSource runs in headless Chromium on a page of the site; events are
published over REST on the other instance. The dashboard is also loaded
through nginx with the shipped site file changed to drop `Upgrade`, as some
proxies do: every WebSocket handshake fails there, and the page must stay
live over SSE and say so.
"""

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import Page, expect

from tests.integration.harness import handshake_status
from tests.integration.harness import nginx as nginx_harness

from .frontdoor import FrontDoor
from .pages import create_request, record_events, report, row, seen_ids, sign_in

OPEN_EVENT_SOURCE = """(query) => {
  window.sse = [];
  window.source = new EventSource("/api/v1/stream/" + query);
  for (const name of ["welcome", "request.status", "announcement", "reset", "session-ended"]) {
    window.source.addEventListener(name, (m) =>
      window.sse.push({event: name, id: m.lastEventId, data: JSON.parse(m.data)}));
  }
}"""


def received(page: Page, event: str | None = None) -> list[dict]:
    messages = page.evaluate("window.sse")
    return [m for m in messages if event is None or m["event"] == event]


def wait_for_count(page: Page, event: str, count: int) -> None:
    page.wait_for_function(
        "([name, count]) => window.sse.filter((m) => m.event === name).length >= count", arg=[event, count]
    )


def bare_page(context, target, username: str = "ada") -> Page:
    """Sign in on `target`, then go to a page of the site that runs no client of its own (the health check)."""
    page = sign_in(context.new_page(), target, username)
    page.goto(f"{target.url}/healthz")
    return page


def open_event_source(page: Page, query: str = "") -> None:
    page.evaluate(OPEN_EVENT_SOURCE, query)
    wait_for_count(page, "welcome", 1)


@pytest.fixture
def front_door(service) -> Iterator[FrontDoor]:
    door = FrontDoor(service.a, service.b)
    yield door
    door.close()


def test_event_source_gets_each_event_once_in_order_from_the_other_instance(service, context):
    """Published on B, read on A: welcome first, then every event once, in cursor order, `id` = its cursor."""
    page = bare_page(context, service.a)
    open_event_source(page)
    with service.publisher(service.b) as publisher:
        request_id = create_request(publisher, "ada", "Over SSE")
        for progress in (10, 20, 30):
            report(publisher, request_id, "processing", progress)
        report(publisher, request_id, "succeeded")
    wait_for_count(page, "request.status", 5)
    events = received(page, "request.status")
    assert [e["data"]["request"]["status"] for e in events] == ["queued", *["processing"] * 3, "succeeded"]
    assert len({e["data"]["id"] for e in events}) == 5
    assert [e["id"] for e in events] == [e["data"]["cursor"] for e in events] == sorted(e["id"] for e in events)
    assert received(page)[0]["event"] == "welcome"


def test_last_event_id_resumes_after_the_instance_holding_the_stream_is_killed(service, context, front_door):
    """A is SIGKILLed: EventSource reconnects by itself (to B), sends Last-Event-ID, and gets the missed events once."""
    page = bare_page(context, front_door)
    open_event_source(page)
    with service.publisher(service.b) as publisher:
        request_id = create_request(publisher, "ada", "Through a kill")
        wait_for_count(page, "request.status", 1)
        service.a.kill()
        for progress in (40, 60):
            report(publisher, request_id, "processing", progress)
        wait_for_count(page, "welcome", 2)
        report(publisher, request_id, "succeeded")
        wait_for_count(page, "request.status", 4)
    events = received(page, "request.status")
    assert [e["data"]["request"]["progress"] for e in events] == [0, 40, 60, 100]
    assert len({e["data"]["id"] for e in events}) == 4


def test_a_cursor_past_the_history_gets_reset(service, context):
    """`?cursor=` that the stream does not hold: `event: reset` with a reason, right after the welcome."""
    page = bare_page(context, service.a)
    open_event_source(page, "?cursor=" + "f" * 24)
    wait_for_count(page, "reset", 1)
    assert set(received(page, "reset")[0]["data"]) == {"reason"}


def test_logout_ends_the_stream_and_event_source_gives_up_on_the_401(service, context):
    """Signing out: `event: session-ended`; EventSource's reconnect gets 401 and it closes (readyState 2)."""
    page = bare_page(context, service.a)
    open_event_source(page)
    page.evaluate(
        """() => fetch("/accounts/logout/", {method: "POST", headers: {"X-CSRFToken":
             document.cookie.match(/csrftoken=([^;]+)/)[1]}})"""
    )
    wait_for_count(page, "session-ended", 1)
    page.wait_for_function("() => window.source.readyState === 2")


@pytest.fixture
def nginx_without_upgrade(service, tmp_path, monkeypatch) -> Iterator[nginx_harness.Nginx]:
    """Return nginx running the shipped site file with `/ws/` passing no `Upgrade`: every WebSocket handshake fails."""
    shipped = (nginx_harness.PROJECT_DIR / "deploy" / "nginx.conf").read_text()
    dropped = shipped.replace("proxy_set_header Upgrade $http_upgrade;", 'proxy_set_header Upgrade "";')
    dropped = dropped.replace("proxy_set_header Connection $connection_upgrade;", 'proxy_set_header Connection "";')
    assert "Upgrade $http_upgrade" not in dropped and "Connection $connection_upgrade" not in dropped
    (tmp_path / "project" / "deploy").mkdir(parents=True)
    (tmp_path / "project" / "deploy" / "nginx.conf").write_text(dropped)
    monkeypatch.setattr(nginx_harness, "PROJECT_DIR", tmp_path / "project")
    (tmp_path / "nginx").mkdir()
    proxy = nginx_harness.Nginx(tmp_path / "nginx", [service.a, service.b])
    yield proxy
    proxy.stop()


def test_the_dashboard_behind_a_proxy_without_upgrade_stays_live_over_sse(service, context, nginx_without_upgrade):
    """No WebSocket gets through: the dashboard says "Live (SSE)"; a request published over REST shows succeeded."""
    with ThreadPoolExecutor(1) as thread:  # Playwright's sync API holds this thread's event loop
        assert thread.submit(asyncio.run, handshake_status(nginx_without_upgrade)).result() != 101
    page = context.new_page()
    page.goto(f"{nginx_without_upgrade.origin}/accounts/login/")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(service.PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{nginx_without_upgrade.origin}/")
    connection = page.locator("#connection")
    expect(connection).to_have_attribute("data-transport", "sse")
    expect(connection).to_have_attribute("data-state", "connected")
    expect(connection.locator(".connection-label")).to_have_text("Live (SSE)")
    record_events(page)
    with service.publisher(service.b) as publisher:
        request_id = create_request(publisher, "ada", "Behind the proxy")
        expect(row(page, request_id).locator(".badge")).to_have_text("queued")
        report(publisher, request_id, "processing", 50)
        report(publisher, request_id, "succeeded")
    expect(row(page, request_id).locator(".badge")).to_have_text("succeeded")
    assert len(seen_ids(page)) == len(set(seen_ids(page))) == 3
    # An ack from the page goes over REST (the worker holds the page's CSRF token); the `read` comes back over SSE.
    page.evaluate("window.notify.client.addEventListener('read', (e) => (window.reads ||= []).push(e.detail))")
    last_id = seen_ids(page)[-1]
    assert page.evaluate("(id) => window.notify.client.ack(id)", last_id) is True
    page.wait_for_function("(id) => (window.reads || []).some((r) => r.up_to === id && r.unread === 0)", arg=last_id)
    log = nginx_without_upgrade.access_log().splitlines()
    browser_handshakes = [line for line in log if "/ws/notifications/" in line and "Chrome" in line]
    assert len(browser_handshakes) >= 3 and all('HTTP/1.1" 404' in line for line in browser_handshakes)
