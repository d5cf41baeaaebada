"""Where a stored event is fanned out: group names, layer messages, on-commit hand-off.

Fan-out is best effort and fast; correctness never depends on it. An event
that no instance managed to send stays pending in the outbox (see
`outbox.py`), and every connection closes its own gaps from the database
(see `delivery.py`).

A commit's events travel as one `events.stored` message per group: the
user's group, or the everyone group for announcements. A commit with events
for many users (a batch publish, an outbox sweep) goes to every instance as a
single message instead of one per user; each instance keeps the events of
the users it holds. Each event's payload travels encoded to JSON, as it was
stored (`Event.encoded_payload`), not encoded again per instance or socket.
"""

from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from .models import Event, EventKind

EVENTS_MESSAGE = "events.stored"
READ_MESSAGE = "read.marked"
SESSION_ENDED_MESSAGE = "session.ended"
# A commit with events of at least this many groups is sent once, to every instance.
MANY_GROUPS = 8


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


def group_for(event: Event) -> str:
    return everyone_group() if event.kind == EventKind.ANNOUNCEMENT else user_group(event.user_id)


def wire_event(event: Event) -> list:
    """Return an event as the layer carries it: [user_id (None: everyone), seq, encoded payload, created_at]."""
    return [event.user_id, event.seq, event.encoded_payload, event.created_at.timestamp()]


def events_message(events: list[Event]) -> dict:
    return {"type": EVENTS_MESSAGE, "events": [wire_event(event) for event in events]}


def outgoing_for(events: list[Event]) -> list[Outgoing]:
    """Return the messages that carry these events, in order: one per group, or one to everyone for many groups."""
    by_group: dict[str, list[Event]] = defaultdict(list)
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


def fan_out_on_commit(events: list[Event]) -> None:
    """Hand the events, in order, to this process's hub once the transaction commits."""
    transaction.on_commit(lambda: _hand_to_hub(lambda: outgoing_for(events), events))


def send_on_commit(group: str, message: dict) -> None:
    """Send a control message (read, session ended) once the transaction commits."""
    transaction.on_commit(lambda: _hand_to_hub(lambda: [Outgoing(group, message)], []))


def _hand_to_hub(build_outgoing, events: list[Event]) -> None:
    """Give the messages, built only now, to this process's hub, if one runs here."""
    from .hub import Hub

    hub = Hub.running()
    if hub is not None:
        hub.submit_threadsafe(build_outgoing(), events)
    # With no hub in this process (a management command, a worker), the outbox
    # sweep of a serving instance sends the event within a second or two.
