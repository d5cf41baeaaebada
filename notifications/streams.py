"""Where an event is stored and read back: the per-user and announcement streams.

`append_event` must run inside `transaction.atomic()`. It locks the stream's
head row until the transaction commits, so sequence numbers are gapless and
commit in order: when a client has seen seq N, every seq below N is committed.
"""

import uuid
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from .cursors import Cursor
from .models import Event, EventKind, StreamHead


def _next_seq(user_id: int | None) -> int:
    """Increment the stream's head and return the new seq; the row stays locked until commit.

    One `UPDATE ... RETURNING` both locks and allocates (PostgreSQL, SQLite
    3.35+); a stream's first event creates its head row first.
    """
    table = StreamHead._meta.db_table
    where = "user_id IS NULL" if user_id is None else "user_id = %s"
    with connection.cursor() as cursor:
        for _ in range(2):
            cursor.execute(
                f"UPDATE {table} SET last_seq = last_seq + 1 WHERE {where} RETURNING last_seq",
                [] if user_id is None else [user_id],
            )
            row = cursor.fetchone()
            if row is not None:
                return row[0]
            StreamHead.objects.get_or_create(user_id=user_id)
    raise RuntimeError(f"no stream head for user {user_id} after creating it")


def append_event(*, kind: str, payload: dict, user_id: int | None = None, request=None) -> Event:
    """Store an event at the next position of its stream (the user's, or announcements when no user).

    The stored payload is what clients receive (less the cursor): it starts
    with the event's `id` and carries its `created_at`.
    """
    assert transaction.get_connection().in_atomic_block, "append_event needs transaction.atomic()"
    seq = _next_seq(user_id)
    event_id, created_at = uuid.uuid4(), timezone.now()
    payload = {"id": str(event_id), **payload, "created_at": created_at.isoformat()}
    return Event.objects.create(
        id=event_id,
        kind=kind,
        user_id=user_id,
        seq=seq,
        request=request,
        payload=payload,
        created_at=created_at,
    )


def head_cursor(user_id: int) -> Cursor:
    """Return the cursor just past the newest committed event of a user's stream."""
    heads = dict(
        StreamHead.objects.filter(Q(user_id=user_id) | Q(user__isnull=True)).values_list("user_id", "last_seq")
    )
    return Cursor(heads.get(None, 0), heads.get(user_id, 0))


def heads_for_users(user_ids: list[int]) -> tuple[int, dict[int, int]]:
    """Return the announcement head and each given user's own head, in one query."""
    rows = StreamHead.objects.filter(Q(user_id__in=user_ids) | Q(user__isnull=True)).values_list("user_id", "last_seq")
    heads = dict(rows)
    return heads.pop(None, 0), heads


def stream_of(user_id: int) -> Q:
    """Return the filter that selects every event of a user's stream."""
    return Q(user_id=user_id) | Q(user__isnull=True, kind=EventKind.ANNOUNCEMENT)


@dataclass(frozen=True)
class Replay:
    events: list[Event]
    # More events wait past the last one returned (the page limit was reached).
    truncated: bool


def events_after(user_id: int, cursor: Cursor, limit: int = 500) -> Replay:
    """Return the user's events after `cursor`, in the order they were stored."""
    query = Event.objects.filter(
        Q(user_id=user_id, seq__gt=cursor.own) | Q(user__isnull=True, seq__gt=cursor.announcements)
    ).order_by("position")
    events = list(query[: limit + 1])
    return Replay(events[:limit], truncated=len(events) > limit)


def is_pruned_past(user_id: int, cursor: Cursor) -> bool:
    """Return whether events after `cursor` may have been deleted by retention."""
    heads = dict(
        StreamHead.objects.filter(Q(user_id=user_id) | Q(user__isnull=True)).values_list(
            "user_id", "pruned_through_seq"
        )
    )
    return cursor.announcements < heads.get(None, 0) or cursor.own < heads.get(user_id, 0)


def unread_count(user_id: int) -> int:
    """Return how many events of the user's stream are past its read marker."""
    read_position = StreamHead.objects.filter(user_id=user_id).values_list("read_position", flat=True).first() or 0
    return Event.objects.filter(stream_of(user_id), position__gt=read_position).count()


def mark_read(user_id: int, up_to_position: int) -> None:
    """Move the user's read marker forward (never back) to `up_to_position`."""
    StreamHead.objects.get_or_create(user_id=user_id)
    head = StreamHead.objects.select_for_update().get(user_id=user_id)
    if up_to_position > head.read_position:
        head.read_position = up_to_position
        head.save(update_fields=["read_position"])


def read_position(user_id: int) -> int:
    return StreamHead.objects.filter(user_id=user_id).values_list("read_position", flat=True).first() or 0
