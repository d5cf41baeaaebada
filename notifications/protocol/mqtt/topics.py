"""The topic filters of PROTOCOL section 4.3, the concrete topic of each event, and which filters match it.

A filter names a selection of the user's stream: all of it, `request.status`
events (of every request or of one), or announcements. An event matching
several of a client's subscriptions is published once, at the highest
granted QoS (docs/mqtt.md).
"""

import uuid
from dataclasses import dataclass

ANNOUNCEMENTS_TOPIC = "notify/announcements"
REQUESTS_PREFIX = "notify/me/requests/"
ALL = "all"
REQUESTS = "requests"
ANNOUNCEMENTS = "announcements"
_FIXED = {
    "notify/me/events": ALL,
    "notify/me/#": ALL,
    REQUESTS_PREFIX + "+": REQUESTS,
    ANNOUNCEMENTS_TOPIC: ANNOUNCEMENTS,
}


@dataclass(frozen=True)
class Selection:
    """What one topic filter selects: `what` is ALL, REQUESTS or ANNOUNCEMENTS; `request_id` narrows REQUESTS."""

    what: str
    request_id: str | None = None

    def matches(self, kind: str, request_id: str | None) -> bool:
        if self.what == ALL:
            return True
        if self.what == ANNOUNCEMENTS:
            return kind == "announcement"
        return kind == "request.status" and self.request_id in (None, request_id)


def selection_of(topic_filter: str) -> Selection | None:
    """Return what a topic filter selects, or None for a filter section 4.3 does not offer."""
    if topic_filter in _FIXED:
        return Selection(_FIXED[topic_filter])
    if topic_filter.startswith(REQUESTS_PREFIX):
        try:
            request_id = uuid.UUID(topic_filter[len(REQUESTS_PREFIX) :])
        except ValueError:
            return None
        if str(request_id) == topic_filter[len(REQUESTS_PREFIX) :]:
            return Selection(REQUESTS, str(request_id))
    return None


def topic_of(kind: str, request_id: str | None) -> str:
    """Return the concrete topic an event is published on."""
    return ANNOUNCEMENTS_TOPIC if kind == "announcement" else REQUESTS_PREFIX + str(request_id)


class Subscriptions:
    """A client's topic filters in subscribe order, each with its granted QoS."""

    def __init__(self, granted: list[tuple[str, int]] = ()):
        self._by_filter: dict[str, tuple[Selection, int]] = {}
        for topic_filter, qos in granted:
            selection = selection_of(topic_filter)
            if selection is not None:
                self.add(topic_filter, selection, qos)

    def add(self, topic_filter: str, selection: Selection, qos: int) -> None:
        """Add or replace a subscription (a repeated filter replaces the earlier one, MQTT-3.8.4-3)."""
        self._by_filter[topic_filter] = (selection, qos)

    def remove(self, topic_filter: str) -> None:
        self._by_filter.pop(topic_filter, None)

    def qos_for(self, kind: str, request_id: str | None) -> int | None:
        """Return the highest granted QoS of the subscriptions an event matches, or None if it matches none."""
        matched = [qos for selection, qos in self._by_filter.values() if selection.matches(kind, request_id)]
        return max(matched) if matched else None

    def granted(self) -> list[list]:
        """Return [[filter, granted QoS], ...] as `MqttSession.subscriptions` stores them."""
        return [[topic_filter, qos] for topic_filter, (_, qos) in self._by_filter.items()]
