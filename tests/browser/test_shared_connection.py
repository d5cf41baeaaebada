"""One connection per browser, shared by all its tabs: through a killed instance and a closed tab, in a real browser.

The tabs load the pages through a front door (frontdoor.py) in front of
instances A and B, so they share one origin (a SharedWorker is per origin)
while A, which holds the connection, is SIGKILLed and their reconnect lands on B.
"""

from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from .frontdoor import FrontDoor
from .pages import (
    NO_SHARED_WORKER,
    create_request,
    dispatched_ids,
    expect_live,
    record_dispatched_ids,
    report,
    request_event_ids,
    row,
    sharing,
    sign_in,
)

WS_PATH = "/ws/notifications/"


@pytest.fixture
def front_door(service) -> Iterator[FrontDoor]:
    door = FrontDoor(service.a, service.b)
    yield door
    door.close()


def open_tabs(context: BrowserContext, door: FrontDoor, count: int = 3) -> list[Page]:
    """Sign ada in in a first tab, open the dashboard in the others, and wait until every tab is live."""
    tabs = [sign_in(context.new_page(), door, "ada")]
    for _ in range(count - 1):
        tab = context.new_page()
        tab.goto(f"{door.url}/")
        tabs.append(tab)
    for tab in tabs:
        expect_live(tab)
    return tabs


def expect_each_event_once(tabs: list[Page], request_id: str, event_ids: list[str], final: str) -> None:
    """Every tab shows the final status and each event of the request once, in order: on the page and as dispatched."""
    for tab in tabs:
        expect(row(tab, request_id).locator(".badge")).to_have_text(final)
        tab.locator("#notification-centre .bell").click()
        for event_id in event_ids:
            expect(tab.locator(f'.notification[data-event-id="{event_id}"]')).to_have_count(1)
        tab.locator("#notification-centre .bell").click()
        assert dispatched_ids(tab) == event_ids, f"{tab.url}: {dispatched_ids(tab)} != {event_ids}"


def expect_sockets(door: FrontDoor, instance: str, count: int) -> None:
    """Expect `count` socket handshakes so far, the last one to `instance`, every one with the pages' Origin."""
    handshakes = door.handshakes_to(WS_PATH)
    assert len(handshakes) == count, handshakes
    assert handshakes[-1].instance == instance, handshakes
    assert {handshake.origin for handshake in handshakes} == {door.url}, handshakes


def test_three_tabs_share_the_workers_one_socket_through_the_death_of_its_instance(service, context, front_door):
    """SharedWorker: three tabs, one socket with the pages' Origin; A dies, events go on via B, once in every tab."""
    record_dispatched_ids(context)
    tabs = open_tabs(context, front_door)
    assert [sharing(tab) for tab in tabs] == ["shared-worker"] * 3
    expect_sockets(front_door, "A", 1)

    with service.publisher(service.b) as publisher:
        request_id = create_request(publisher, "ada", "Shared report")
        for tab in tabs:
            expect(row(tab, request_id).locator(".badge")).to_have_text("queued")
        service.a.kill()
        report(publisher, request_id, "processing", 30, "step 30")
        report(publisher, request_id, "processing", 60, "step 60")
        for tab in tabs:
            expect(row(tab, request_id).locator(".percent")).to_have_text("60 %")
        expect_sockets(front_door, "B", 2)
        tabs.pop(0).close()  # the tab that started the worker: the worker and its socket stay
        report(publisher, request_id, "succeeded", 100, "Done")
        event_ids = request_event_ids(publisher, request_id)

    expect_each_event_once(tabs, request_id, event_ids, "succeeded")
    expect_sockets(front_door, "B", 2)


def test_without_shared_worker_the_elected_tab_holds_the_socket_and_another_takes_over_when_it_closes(
    service, make_context, front_door
):
    """Web Locks fallback: one tab leads; A dies, then the leading tab closes: the others get every event once."""
    context = make_context()
    context.add_init_script(NO_SHARED_WORKER)
    record_dispatched_ids(context)
    tabs = open_tabs(context, front_door)
    roles = [sharing(tab) for tab in tabs]
    assert sorted(roles) == ["follower", "follower", "leader"], roles
    expect_sockets(front_door, "A", 1)

    with service.publisher(service.b) as publisher:
        request_id = create_request(publisher, "ada", "Elected report")
        for tab in tabs:
            expect(row(tab, request_id).locator(".badge")).to_have_text("queued")
        service.a.kill()
        report(publisher, request_id, "processing", 30, "step 30")
        for tab in tabs:
            expect(row(tab, request_id).locator(".percent")).to_have_text("30 %")
        expect_sockets(front_door, "B", 2)

        leader = tabs.pop(roles.index("leader"))
        leader.close()
        report(publisher, request_id, "processing", 60, "step 60")
        report(publisher, request_id, "succeeded", 100, "Done")
        event_ids = request_event_ids(publisher, request_id)

    expect_each_event_once(tabs, request_id, event_ids, "succeeded")
    expect(tabs[0].locator("#connection")).to_have_attribute("data-state", "connected")
    assert sorted(sharing(tab) for tab in tabs) == ["follower", "leader"]
    expect_sockets(front_door, "B", 3)
