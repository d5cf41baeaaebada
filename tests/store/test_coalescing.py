"""Catch-up by state: what a coalesced resume sends and how many events it skips."""

import pytest
from django.contrib.auth import get_user_model

from notifications.protocol.cursors import Cursor
from notifications.store import actions, coalescing, streams


@pytest.fixture
def ada(db):
    return get_user_model().objects.create_user("ada", password="pw")


def _sent(user_id: int, cursor: Cursor, limit: int = 500) -> tuple[list[str], coalescing.CoalescedResume]:
    resume = coalescing.read_coalesced_resume(user_id, cursor)
    labels, after = [], 0
    while True:
        page = coalescing.coalesced_page(user_id, cursor, resume.through, after, limit)
        for event in page.events:
            request = event.payload.get("request")
            labels.append(f"{request['title']}:{request['status']}" if request else event.payload["title"])
            after = event.position
        if not page.truncated:
            return labels, resume


def test_each_request_sends_its_latest_event_and_every_announcement_in_stored_order(ada):
    """Ten steps of one request and three of another become their two latest events, beside the announcements."""
    start = streams.head_cursor(ada.pk)
    first, _ = actions.do_create_request(ada, "Report")
    second, _ = actions.do_create_request(ada, "Import")
    for progress in range(10, 100, 10):
        actions.do_publish_status(first.id, "processing", progress)
    actions.do_broadcast("Maintenance tonight")
    actions.do_publish_status(second.id, "processing", 50)
    actions.do_publish_status(first.id, "succeeded")
    actions.do_broadcast("Maintenance done")

    labels, resume = _sent(ada.pk, start)

    assert labels == ["Maintenance tonight", "Import:processing", "Report:succeeded", "Maintenance done"]
    assert resume.coalesced == 11 + 2 - 2  # 13 own events, 2 of them sent
    assert resume.through == streams.head_cursor(ada.pk)


def test_a_terminal_event_is_always_sent(ada):
    """A request that failed shows as failed, however many steps came before."""
    start = streams.head_cursor(ada.pk)
    tracked, _ = actions.do_create_request(ada, "Payment")
    actions.do_publish_status(tracked.id, "processing", 40)
    actions.do_publish_status(tracked.id, "failed")

    labels, _ = _sent(ada.pk, start)

    assert labels == ["Payment:failed"]


def test_only_events_past_the_cursor_count(ada):
    """A request whose newest event is before the cursor sends nothing; the cursor's own range is respected."""
    tracked, _ = actions.do_create_request(ada, "Old")
    actions.do_publish_status(tracked.id, "succeeded")
    cursor = streams.head_cursor(ada.pk)
    newer, _ = actions.do_create_request(ada, "New")

    labels, resume = _sent(ada.pk, cursor)

    assert labels == ["New:queued"]
    assert resume.coalesced == 0


def test_another_users_events_are_never_sent(ada):
    """Bob's requests neither appear in Ada's coalesced replay nor count as skipped."""
    bob = get_user_model().objects.create_user("bob", password="pw")
    start = streams.head_cursor(ada.pk)
    tracked, _ = actions.do_create_request(bob, "Bob's")
    actions.do_publish_status(tracked.id, "processing", 10)

    labels, resume = _sent(ada.pk, start)

    assert labels == []
    assert resume.coalesced == 0


def test_pages_continue_in_stored_order(ada):
    """Paging by a small limit gives the same frames as one page."""
    start = streams.head_cursor(ada.pk)
    for index in range(7):
        tracked, _ = actions.do_create_request(ada, f"R{index}")
        actions.do_publish_status(tracked.id, "processing", 10)
        actions.do_broadcast(f"A{index}")

    paged, _ = _sent(ada.pk, start, limit=2)
    whole, _ = _sent(ada.pk, start)

    assert paged == whole
    assert len(whole) == 14


def test_cursors_the_server_never_issued_or_past_the_history_are_reset(ada):
    """The same reset reasons as a plain resume."""
    actions.do_create_request(ada, "Report")
    ahead = streams.head_cursor(ada.pk).after_own(99)

    assert coalescing.read_coalesced_resume(ada.pk, ahead).reset_reason == streams.UNKNOWN_CURSOR
