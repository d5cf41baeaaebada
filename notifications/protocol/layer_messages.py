"""The messages instances exchange over the channel layer, and the groups they go to.

Pure: no I/O. A commit's events travel as one `events.stored` message per
group: the user's group, or the everyone group for announcements. A commit
with events for many users (a batch publish, an outbox sweep) goes to every
instance as a single message instead of one per user; each instance keeps the
events of the users it holds. Each event's payload travels encoded to JSON,
as it was stored (`Event.encoded_payload`), not encoded again per instance or
socket.
"""

from collections import defaultdict
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings

EVENTS_MESSAGE = "events.stored"
READ_MESSAGE = "read.marked"
SESSION_ENDED_MESSAGE = "session.ended"
# A commit with events of at least this many groups is sent once, to every instance.
MANY_GROUPS = 8


class StoredEvent(Protocol):
    """What a layer message needs of a stored event (an `Event` row)."""

    user_id: int | None
    seq: int
    position: int
    encoded_payload: str
    created_at: object


@dataclass(frozen=True)
class Outgoing:
    """One layer message, and the positions of the stored events it carries (none for a control message)."""

    group: str
    message: dict
    positions: tuple[int, ...] = ()


def user_group(user_id: int) -> str:
    return f"{settings.NOTIFY_NAMESPACE}.user.{user_id}"


def everyone_group() -> str:
    return f"{settings.NOTIFY_NAMESPACE}.everyone"


def group_for(event: StoredEvent) -> str:
    """Return the group of an event's stream: its user's, or everyone's for an announcement (no user)."""
    return everyone_group() if event.user_id is None else user_group(event.user_id)


def wire_event(event: StoredEvent) -> list:
    """Return an event as the layer carries it: [user_id (None: everyone), seq, encoded payload, created_at]."""
    return [event.user_id, event.seq, event.encoded_payload, event.created_at.timestamp()]


def events_message(events: list[StoredEvent]) -> dict:
    return {"type": EVENTS_MESSAGE, "events": [wire_event(event) for event in events]}


def outgoing_for(events: list[StoredEvent]) -> list[Outgoing]:
    """Return the messages that carry these events, in order: one per group, or one to everyone for many groups."""
    by_group: dict[str, list[StoredEvent]] = defaultdict(list)
    for event in events:
        by_group[group_for(event)].append(event)
    if len(by_group) >= MANY_GROUPS:
        by_group = {everyone_group(): events}
    return [
        Outgoing(group, events_message(grouped), tuple(event.position for event in grouped))
        for group, grouped in by_group.items()
    ]


def read_message(user_id: int, up_to: str, unread: int) -> dict:
    return {"type": READ_MESSAGE, "user_id": user_id, "up_to": up_to, "unread": unread}


def session_ended_message(user_id: int, session_key: str | None) -> dict:
    """Return the message that closes a user's sockets (only one session's, when given)."""
    return {"type": SESSION_ENDED_MESSAGE, "user_id": user_id, "session_key": session_key}
