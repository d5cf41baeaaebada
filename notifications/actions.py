"""State changes: each writes rows in one transaction and fans out on commit.

Views, consumers, the admin and management commands call these; nothing else
writes requests or events.
"""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from . import fanout, presence, streams
from .errors import Conflict, NotFound
from .models import (
    AnnouncementLevel,
    Event,
    EventKind,
    RequestStatus,
    TrackedRequest,
)


def _request_payload(tracked: TrackedRequest) -> dict:
    return {
        "id": str(tracked.id),
        "title": tracked.title,
        "status": tracked.status,
        "progress": tracked.progress,
        "updated_at": tracked.updated_at.isoformat(),
    }


def _status_event(tracked: TrackedRequest, message: str, data: dict | None) -> Event:
    payload = {
        "kind": EventKind.REQUEST_STATUS.value,
        "request": _request_payload(tracked),
        "message": message,
        "data": data or {},
    }
    event = streams.append_event(
        kind=EventKind.REQUEST_STATUS, payload=payload, user_id=tracked.owner_id, request=tracked
    )
    fanout.fan_out_on_commit(event)
    return event


def do_create_request(owner: AbstractBaseUser, title: str, external_id: str = "") -> tuple[TrackedRequest, Event]:
    """Create a tracked request in `queued` and publish its first status event."""
    with transaction.atomic():
        tracked = TrackedRequest.objects.create(owner=owner, title=title, external_id=external_id or "")
        event = _status_event(tracked, message="", data=None)
    return tracked, event


def do_publish_status(
    request_id,
    status: str,
    progress: int | None = None,
    message: str = "",
    data: dict | None = None,
) -> Event:
    """Record a status change of a request and publish it to its owner.

    Raises NotFound for an unknown request and Conflict once it is terminal.
    """
    with transaction.atomic():
        tracked = TrackedRequest.objects.select_for_update().filter(pk=request_id).first()
        if tracked is None:
            raise NotFound("No request with this id.")
        if tracked.is_terminal:
            raise Conflict(f"The request is already {tracked.status}; it takes no further events.")
        tracked.status = status
        if progress is not None:
            tracked.progress = progress
        elif status == RequestStatus.SUCCEEDED:
            tracked.progress = 100
        tracked.message = message or ""
        tracked.save()
        return _status_event(tracked, message=message or "", data=data)


def do_cancel_request(request_id, reason: str = "Cancelled") -> Event:
    """Cancel a request that is not finished yet."""
    return do_publish_status(request_id, RequestStatus.CANCELLED, message=reason)


def do_broadcast(title: str, body: str = "", level: str = AnnouncementLevel.INFO) -> Event:
    """Store an announcement for everyone and publish it."""
    with transaction.atomic():
        payload = {"kind": EventKind.ANNOUNCEMENT.value, "title": title, "body": body, "level": level}
        event = streams.append_event(kind=EventKind.ANNOUNCEMENT, payload=payload)
        fanout.fan_out_on_commit(event)
    return event


def do_mark_read(user: AbstractBaseUser, up_to_event_id) -> int:
    """Mark the user's events up to this one as read; tell its sockets. Return the unread count."""
    with transaction.atomic():
        event = Event.objects.filter(streams.stream_of(user.pk), id=up_to_event_id).first()
        if event is None:
            raise NotFound("No event with this id in your stream.")
        streams.mark_read(user.pk, event.position)
        unread = streams.unread_count(user.pk)
        fanout.send_on_commit(fanout.user_group(user.pk), fanout.read_message(user.pk, str(event.id), unread))
    return unread


def do_end_sessions(user_id: int, session_key: str | None = None) -> None:
    """Close the user's sockets on every instance (only those of one session, when given)."""
    fanout.send_on_commit(fanout.user_group(user_id), fanout.session_ended_message(user_id, session_key))


def do_disconnect_user(user_id: int) -> int:
    """Close every socket of the user on every instance with 4000; return how many are recorded as open.

    Two paths, so it works from any process: the layer message closes them at
    once where a hub runs (a daphne instance serving the admin), and the
    marker on their presence rows makes each holding instance close them at
    its next presence heartbeat even if the message never arrives.
    """
    with transaction.atomic():
        marked = presence.request_disconnect(user_id)
        do_end_sessions(user_id)
    return marked
