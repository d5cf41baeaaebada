"""An event's routing facts read from its encoded payload, whatever the order of its keys."""

from notifications.protocol import frames
from notifications.protocol.event_facts import EventFacts, facts_of


def test_facts_of_a_request_status_payload():
    encoded = frames.encode_payload(
        {"message": '"kind":"announcement"', "request": {"id": "r-1"}, "kind": "request.status", "id": "e-1"}
    )
    assert facts_of(encoded) == EventFacts("e-1", "request.status", "r-1")


def test_an_announcement_has_no_request_and_says_so():
    facts = facts_of(frames.encode_payload({"id": "e-2", "kind": "announcement", "title": "t"}))
    assert facts == EventFacts("e-2", "announcement", None)
    assert facts.is_announcement
