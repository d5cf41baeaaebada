"""Where an event is stored and read back: the per-user and announcement streams.

`append_events` must run inside `transaction.atomic()`. It locks each stream's
head row until the transaction commits, so sequence numbers are gapless and
commit in order: when a client has seen seq N, every seq below N is committed.
"""

import uuid
from collections import Counter
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from notifications.models import Event, EventKind, StreamHead
from notifications.protocol.cursors import Cursor


@dataclass(frozen=True)
class NewEvent:
    """An event to store: its kind, what clients receive, and its stream (the user's, or announcements)."""

    kind: str
    payload: dict
    user_id: int | None = None
    request: object = None


def _allocate_seqs(counts: dict[int | None, int]) -> dict[int | None, int]:
    """Advance each stream's head by its count; return the new last seq of each. Rows stay locked until commit.

    A stream's first event creates its head row first.
    """
    allocated = _advance_heads(counts)
    missing = {user_id: n for user_id, n in counts.items() if user_id not in allocated}
    if missing:
        for user_id in missing:
            StreamHead.objects.get_or_create(user_id=user_id)
        allocated.update(_advance_heads(missing))
    if len(allocated) != len(counts):
        raise RuntimeError(f"no stream head for users {sorted(set(counts) - set(allocated), key=str)}")
    return allocated


def _advance_heads(counts: dict[int | None, int]) -> dict[int | None, int]:
    """Run the `UPDATE ... RETURNING` that locks and advances heads; return the heads found.

    One stream (the common case) is a single statement. Several are first locked
    in user order, so two transactions touching the same streams never deadlock,
    then advanced by one statement (PostgreSQL, SQLite 3.35+).
    """
    table = StreamHead._meta.db_table
    with connection.cursor() as cursor:
        if len(counts) == 1:
            [(user_id, n)] = counts.items()
            where = "user_id IS NULL" if user_id is None else "user_id = %s"
            params = [n] if user_id is None else [n, user_id]
            cursor.execute(f"UPDATE {table} SET last_seq = last_seq + %s WHERE {where} RETURNING last_seq", params)
            row = cursor.fetchone()
            return {} if row is None else {user_id: row[0]}
        allocated = {}
        if None in counts:
            allocated.update(_advance_heads({None: counts[None]}))
        users = sorted(user_id for user_id in counts if user_id is not None)
        if connection.vendor == "postgresql":
            allocated.update(_lock_and_advance(cursor, users, [counts[user_id] for user_id in users]))
            return allocated
        list(StreamHead.objects.select_for_update().filter(user_id__in=users).order_by("user_id").values_list("pk"))
        rows = ", ".join(["(%s, %s)"] * len(users))
        cursor.execute(
            f"WITH wanted(head_user_id, n) AS (VALUES {rows}) "
            f"UPDATE {table} SET last_seq = last_seq + wanted.n FROM wanted "
            f"WHERE {table}.user_id = wanted.head_user_id RETURNING user_id, last_seq",
            [value for user_id in users for value in (user_id, counts[user_id])],
        )
        allocated.update(cursor.fetchall())
        return allocated


def _lock_and_advance(cursor, users: list[int], counts: list[int]) -> list[tuple[int, int]]:
    """PostgreSQL: lock the users' heads in user order and advance them, in one statement with two arrays.

    The materialized CTE takes the row locks in its ORDER BY order (as the
    separate SELECT ... FOR UPDATE did), so concurrent batches still cannot
    deadlock; the UPDATE then only touches rows this transaction holds.
    """
    table = StreamHead._meta.db_table
    user_type = StreamHead._meta.get_field("user").db_type(connection)
    cursor.execute(
        f"WITH wanted AS (SELECT * FROM unnest(%s::{user_type}[], %s::integer[]) AS w(head_user_id, n)), "
        f"locked AS MATERIALIZED (SELECT head.id FROM {table} head JOIN wanted ON head.user_id = wanted.head_user_id "
        f"ORDER BY head.user_id FOR UPDATE OF head) "
        f"UPDATE {table} SET last_seq = {table}.last_seq + wanted.n FROM locked, wanted "
        f"WHERE {table}.id = locked.id AND {table}.user_id = wanted.head_user_id "
        f"RETURNING {table}.user_id, {table}.last_seq",
        [users, counts],
    )
    return cursor.fetchall()


def append_events(new_events: list[NewEvent]) -> list[Event]:
    """Store events at the next positions of their streams, in the order given.

    The stored payload is what clients receive (less the cursor): it starts
    with the event's `id` and carries its `created_at`.
    """
    assert transaction.get_connection().in_atomic_block, "append_events needs transaction.atomic()"
    counts = Counter(new.user_id for new in new_events)
    last = _allocate_seqs(counts)
    next_seq = {user_id: last[user_id] - n for user_id, n in counts.items()}
    created_at = timezone.now()
    stamp = created_at.isoformat()
    rows = []
    for new in new_events:
        next_seq[new.user_id] += 1
        event_id = uuid.uuid4()
        payload = {"id": str(event_id), **new.payload, "created_at": stamp}
        rows.append(_new_row(event_id, new, next_seq[new.user_id], payload, created_at))
    _insert(rows)
    return rows


# Event's concrete fields in model order (a test holds them to the model): `_new_row` passes them by position.
EVENT_COLUMNS = (
    "position",
    "id",
    "kind",
    "user_id",
    "seq",
    "request_id",
    "payload",
    "created_at",
    "fanned_out_at",
    "fanout_attempts",
    "fanout_claimed_until",
    "fanout_failed_at",
    "fanout_error",
)


def _new_row(event_id: uuid.UUID, new: NewEvent, seq: int, payload: dict, created_at) -> Event:
    """Return the unsaved row, built by position: Model.__init__ with keywords cost twice as much a batch."""
    request_id = None if new.request is None else new.request.pk
    event = Event(None, event_id, new.kind, new.user_id, seq, request_id, payload, created_at, None, 0, None, None, "")
    if new.request is not None:
        Event.request.field.set_cached_value(event, new.request)  # as `request=` would: no query to read it back
    return event


def _insert(events: list[Event]) -> None:
    """Write new events and set their positions.

    On PostgreSQL the positions are drawn from the column's sequence in one
    query and the rows go in by COPY: half the time of `bulk_create`, whose
    quoting of every value dominated batch publishing in profiles.
    """
    if connection.vendor != "postgresql":
        Event.objects.bulk_create(events)
        return
    table = Event._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT nextval(pg_get_serial_sequence('{table}', 'position')) FROM generate_series(1, %s)", [len(events)]
        )
        for event, (position,) in zip(events, cursor.fetchall(), strict=True):
            event.position = position
        columns = "position, id, kind, user_id, seq, request_id, payload, created_at, fanout_attempts, fanout_error"
        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for event in events:
                copy.write_row(
                    (
                        event.position,
                        event.id,
                        event.kind,
                        event.user_id,
                        event.seq,
                        event.request_id,
                        "{" + event.encoded_payload + "}",
                        event.created_at,
                        0,
                        "",
                    )
                )
    for event in events:
        event._state.adding, event._state.db = False, connection.alias


def append_event(*, kind: str, payload: dict, user_id: int | None = None, request=None) -> Event:
    """Store one event at the next position of its stream (see `append_events`)."""
    [event] = append_events([NewEvent(kind=kind, payload=payload, user_id=user_id, request=request)])
    return event


@dataclass(frozen=True)
class StreamHeads:
    """Where a user's stream ends, and up to where retention may have pruned it."""

    head: Cursor
    pruned_through: Cursor

    def is_pruned_past(self, cursor: Cursor) -> bool:
        """Return whether events after `cursor` may have been deleted by retention."""
        return not cursor.covers(self.pruned_through)


def stream_heads(user_id: int) -> StreamHeads:
    """Read a user's two stream heads in one plain query (it runs on every connect and resume)."""
    table = StreamHead._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT user_id, last_seq, pruned_through_seq FROM {table} WHERE user_id = %s OR user_id IS NULL",
            [user_id],
        )
        rows = {user: (last_seq, pruned) for user, last_seq, pruned in cursor.fetchall()}
    announcements, own = rows.get(None, (0, 0)), rows.get(user_id, (0, 0))
    return StreamHeads(Cursor(announcements[0], own[0]), Cursor(announcements[1], own[1]))


def head_cursor(user_id: int) -> Cursor:
    """Return the cursor just past the newest committed event of a user's stream."""
    return stream_heads(user_id).head


def heads_for_users(user_ids: list[int]) -> tuple[int, dict[int, int]]:
    """Return the announcement head and each given user's own head, in one query.

    It runs every few seconds over every user with a socket here: on
    PostgreSQL the ids go as one array in plain SQL, where the ORM spent
    about 55 ms building the query for 10,000 users (20 ms with `__any_of`).
    """
    if connection.vendor != "postgresql":
        rows = StreamHead.objects.filter(Q(user_id__in=user_ids) | Q(user__isnull=True))
        heads = dict(rows.values_list("user_id", "last_seq"))
        return heads.pop(None, 0), heads
    table = StreamHead._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT user_id, last_seq FROM {table} WHERE user_id = ANY(%s) OR user_id IS NULL", [list(user_ids)]
        )
        heads = dict(cursor.fetchall())
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


# Why a resume gets `reset` instead of its events (the frame's `reason`).
UNKNOWN_CURSOR = "unknown_cursor"
HISTORY_EXPIRED = "history_expired"
NOTHING = Replay([], truncated=False)


@dataclass(frozen=True)
class Resume:
    """What a resume from a cursor sends: a reset reason, or the first page of the events after it."""

    reset_reason: str | None
    replay: Replay


def read_resume(user_id: int, cursor: Cursor, limit: int = 500) -> Resume:
    """Return what a resume from `cursor` sends; the events are read only when the stream moved past it."""
    heads = stream_heads(user_id)
    if not heads.head.covers(cursor):
        return Resume(UNKNOWN_CURSOR, NOTHING)
    if heads.is_pruned_past(cursor):
        return Resume(HISTORY_EXPIRED, NOTHING)
    if cursor.covers(heads.head):  # heads move in the events' own transactions: nothing is committed past it
        return Resume(None, NOTHING)
    return Resume(None, events_after(user_id, cursor, limit))


def unread_count(user_id: int) -> int:
    """Return how many events of the user's stream are past its read marker."""
    read_position = StreamHead.objects.filter(user_id=user_id).values_list("read_position", flat=True).first() or 0
    return Event.objects.filter(stream_of(user_id), position__gt=read_position).count()


def mark_read(user_id: int, up_to_position: int) -> bool:
    """Move the user's read marker forward (never back) to `up_to_position`; return whether it moved."""
    StreamHead.objects.get_or_create(user_id=user_id)
    head = StreamHead.objects.select_for_update().get(user_id=user_id)
    if up_to_position <= head.read_position:
        return False
    head.read_position = up_to_position
    head.save(update_fields=["read_position"])
    return True


def read_position(user_id: int) -> int:
    return StreamHead.objects.filter(user_id=user_id).values_list("read_position", flat=True).first() or 0
