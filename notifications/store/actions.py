"""State changes: each writes rows in one transaction and fans out on commit.

Views, consumers, the admin and management commands call these; nothing else
writes requests or events.
"""

import uuid
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from notifications.errors import Conflict, NotFound
from notifications.models import (
    TERMINAL_STATUSES,
    AnnouncementLevel,
    Event,
    EventKind,
    RequestStatus,
    TrackedRequest,
)
from notifications.ops import metrics
from notifications.protocol import layer_messages
from notifications.store import escalations, ledger, presence, publishing, rowupdates, streams


@dataclass(frozen=True)
class StatusChange:
    """One status a service reports for a request."""

    request_id: uuid.UUID
    status: str
    progress: int | None = None
    message: str = ""
    data: dict | None = None


def _request_payload(tracked: TrackedRequest) -> dict:
    return {
        "id": str(tracked.id),
        "title": tracked.title,
        "status": tracked.status,
        "progress": tracked.progress,
        "updated_at": tracked.updated_at.isoformat(),
    }


def _status_event(tracked: TrackedRequest, message: str, data: dict | None) -> streams.NewEvent:
    """Return the event that reports the request's current state to its owner."""
    payload = {
        "kind": EventKind.REQUEST_STATUS.value,
        "request": _request_payload(tracked),
        "message": message,
        "data": data or {},
    }
    return streams.NewEvent(kind=EventKind.REQUEST_STATUS, payload=payload, user_id=tracked.owner_id, request=tracked)


def do_create_request(
    owner: AbstractBaseUser, title: str, external_id: str = "", publisher=None
) -> tuple[TrackedRequest, Event]:
    """Create a tracked request in `queued` and publish its first status event.

    `publisher`: the service client that asked, which may then read the request's delivery ledger.
    """
    with transaction.atomic():
        tracked = TrackedRequest.objects.create(owner=owner, title=title, external_id=external_id or "")
        if publisher is not None:
            ledger.record_publisher({tracked.pk}, publisher)
        [event] = streams.append_events([_status_event(tracked, message="", data=None)])
        publishing.fan_out_on_commit([event])
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
    [event] = do_publish_statuses([StatusChange(request_id, status, progress, message or "", data)])
    return event


def do_publish_statuses(changes: list[StatusChange], publisher=None) -> list[Event]:
    """Record status changes in the order given, all or none, and publish each to its request's owner.

    Raises NotFound for an unknown request and Conflict for a move the
    request's state by then forbids (`check_move`); the error's `index` names the change.
    `publisher`: the service client reporting them (it may read the requests' delivery ledgers).
    """
    with transaction.atomic():
        requests = _lock_requests({_request_key(change.request_id) for change in changes})
        now = timezone.now()
        new_events = []
        for index, change in enumerate(changes):
            tracked = requests.get(_request_key(change.request_id))
            if tracked is None:
                raise NotFound("No request with this id.", index=index)
            check_move(tracked, change, index)
            _apply(tracked, change, now)
            new_events.append(_status_event(tracked, message=change.message, data=change.data))
        # `updated_at` as `_apply` set it: the time the events carry.
        rowupdates.update_rows(TrackedRequest, list(requests.values()), TrackedRequest.STATE_FIELDS)
        events = streams.append_events(new_events)
        escalations.schedule_terminal(events)
        if publisher is not None:
            ledger.record_publisher({tracked.pk for tracked in requests.values()}, publisher)
        publishing.fan_out_on_commit(events)
    return events


def _request_key(request_id) -> str | None:
    """Return the request id in one spelling (None when it is no id at all)."""
    try:
        return str(uuid.UUID(str(request_id)))
    except ValueError:
        return None


def _lock_requests(request_ids: set[str | None]) -> dict[str, TrackedRequest]:
    """Lock the requests until commit, in id order (so concurrent publishers cannot deadlock)."""
    locked = TrackedRequest.objects.select_for_update().filter(pk__any_of=sorted(request_ids - {None})).order_by("pk")
    return {str(tracked.pk): tracked for tracked in locked}


# Where each status may move: forward only, and the terminal states nowhere.
ALLOWED_MOVES = {
    RequestStatus.QUEUED: {RequestStatus.PROCESSING, *TERMINAL_STATUSES},
    RequestStatus.PROCESSING: {RequestStatus.PROCESSING, *TERMINAL_STATUSES},
}


def check_move(tracked: TrackedRequest, change: StatusChange, index: int | None = None) -> None:
    """Raise Conflict, naming the current status and progress, unless the change moves the request forward."""
    current = {"status": tracked.status, "progress": tracked.progress}
    state = f"The request is {tracked.status} (progress {tracked.progress})"
    if tracked.is_terminal:
        raise Conflict(f"{state.replace(' is ', ' is already ', 1)}; it is final.", index=index, current=current)
    if change.status not in ALLOWED_MOVES.get(tracked.status, set()):
        raise Conflict(f"{state}; it cannot move to {change.status}.", index=index, current=current)
    if change.progress is not None and change.progress < tracked.progress:
        raise Conflict(f"{state}; progress never decreases (got {change.progress}).", index=index, current=current)


def _apply(tracked: TrackedRequest, change: StatusChange, now) -> None:
    tracked.status = change.status
    if change.progress is not None:
        tracked.progress = change.progress
    elif change.status == RequestStatus.SUCCEEDED:
        tracked.progress = 100
    tracked.message = change.message
    tracked.updated_at = now


def do_cancel_request(request_id, reason: str = "Cancelled") -> Event:
    """Cancel a request that is not finished yet."""
    return do_publish_status(request_id, RequestStatus.CANCELLED, message=reason)


def do_broadcast(title: str, body: str = "", level: str = AnnouncementLevel.INFO) -> Event:
    """Store an announcement for everyone and publish it."""
    with transaction.atomic():
        payload = {"kind": EventKind.ANNOUNCEMENT.value, "title": title, "body": body, "level": level}
        event = streams.append_event(kind=EventKind.ANNOUNCEMENT, payload=payload)
        publishing.fan_out_on_commit([event])
    return event


def do_mark_read(user: AbstractBaseUser, up_to_event_id) -> int:
    """Mark the user's events up to this one as read; tell its sockets. Return the unread count."""
    with transaction.atomic():
        event = Event.objects.filter(streams.stream_of(user.pk), id=up_to_event_id).first()
        if event is None:
            raise NotFound("No event with this id in your stream.")
        if streams.mark_read(user.pk, event.position):
            ledger.record_read(user.pk, event.position)
            if event.user_id is not None:
                metrics.observe_time_to_read(event.created_at.timestamp())
        escalations.cancel_read(user.pk, event.position)
        unread = streams.unread_count(user.pk)
        publishing.send_on_commit(
            layer_messages.user_group(user.pk), layer_messages.read_message(user.pk, str(event.id), unread)
        )
    return unread


def do_end_sessions(user_id: int, session_key: str | None = None) -> None:
    """Close the user's sockets on every instance (only those of one session, when given)."""
    publishing.send_on_commit(
        layer_messages.user_group(user_id), layer_messages.session_ended_message(user_id, session_key)
    )


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
