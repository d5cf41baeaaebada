"""Where a stored event is fanned out: group names, layer messages, on-commit hand-off.

Fan-out is best effort and fast; correctness never depends on it. An event
that no instance managed to send stays pending in the outbox (see
`outbox.py`), and every connection closes its own gaps from the database
(see `delivery.py`).
"""

from django.conf import settings
from django.db import transaction

from .models import Event, EventKind

EVENT_MESSAGE = "event.stored"
READ_MESSAGE = "read.marked"
SESSION_ENDED_MESSAGE = "session.ended"


def user_group(user_id: int) -> str:
    return f"{settings.NOTIFY_NAMESPACE}.user.{user_id}"


def everyone_group() -> str:
    return f"{settings.NOTIFY_NAMESPACE}.everyone"


def group_for(event: Event) -> str:
    return everyone_group() if event.kind == EventKind.ANNOUNCEMENT else user_group(event.user_id)


def event_message(event: Event) -> dict:
    """Return the layer message that carries a stored event to every instance."""
    return {
        "type": EVENT_MESSAGE,
        "user_id": event.user_id,
        "seq": event.seq,
        "position": event.position,
        "payload": event.payload,
    }


def read_message(user_id: int, up_to: str, unread: int) -> dict:
    return {"type": READ_MESSAGE, "user_id": user_id, "up_to": up_to, "unread": unread}


def session_ended_message(user_id: int, session_key: str | None) -> dict:
    """Return the message that closes a user's sockets (only one session's, when given)."""
    return {"type": SESSION_ENDED_MESSAGE, "user_id": user_id, "session_key": session_key}


def fan_out_on_commit(events: list[Event]) -> None:
    """Hand the events, in order, to this process's hub once the transaction commits."""
    transaction.on_commit(lambda: _hand_to_hub([(group_for(e), event_message(e), e.position) for e in events]))


def send_on_commit(group: str, message: dict) -> None:
    """Send a control message (read, session ended) once the transaction commits."""
    transaction.on_commit(lambda: _hand_to_hub([(group, message, None)]))


def _hand_to_hub(items: list[tuple[str, dict, int | None]]) -> None:
    from .hub import Hub

    hub = Hub.running()
    if hub is not None:
        hub.submit_threadsafe(items)
    # With no hub in this process (a management command, a worker), the outbox
    # sweep of a serving instance sends the event within a second or two.
