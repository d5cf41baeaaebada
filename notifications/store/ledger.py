"""The delivery ledger: what happened to each event of a request, from storing to being read.

Deliveries are aggregated per event in memory by each instance
(`realtime/ledger.py`) and added here in batches with one upsert, so a
broadcast to 10,000 sockets is one row, not 10,000. Reads are the moves of
the owner's read marker (`ReadMark`), so an event's `read_at` is the first
move that passed it.
"""

import bisect
from datetime import datetime

from django.db import connection

from notifications.models import EventDelivery, ReadMark, RequestPublisher, TrackedRequest, UnseenEscalation

PROTOCOL_BITS = {"json": 1, "stomp": 2, "mqtt": 4, "sse": 8, "sockjs-json": 16, "sockjs-stomp": 32}
ANNOUNCEMENTS_STREAM = 0


def add_deliveries(rows: list[tuple[int, int, datetime, int, int]]) -> None:
    """Add (stream, seq, first delivered at, connections, protocol bits) to the ledger in one statement."""
    if not rows:
        return
    table = EventDelivery._meta.db_table
    values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(rows))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (stream, seq, first_delivered_at, connections, protocols) VALUES {values} "
            f"ON CONFLICT (stream, seq) DO UPDATE SET "
            f"connections = {table}.connections + excluded.connections, "
            f"protocols = {table}.protocols | excluded.protocols, "
            f"first_delivered_at = CASE WHEN excluded.first_delivered_at < {table}.first_delivered_at "
            f"THEN excluded.first_delivered_at ELSE {table}.first_delivered_at END",
            [value for row in rows for value in row],
        )


def record_read(user_id: int, position: int) -> None:
    """Record that the user's read marker moved to `position` now."""
    ReadMark.objects.create(user_id=user_id, position=position)


def record_publisher(request_ids: set, service) -> None:
    """Remember that `service` created or reported these requests (it may read their ledgers)."""
    if connection.vendor == "postgresql":
        _insert_new_publishers(request_ids, service.pk)
        return
    RequestPublisher.objects.bulk_create(
        [RequestPublisher(request_id=request_id, service=service) for request_id in request_ids], ignore_conflicts=True
    )


def _insert_new_publishers(request_ids: set, service_id: int) -> None:
    """PostgreSQL: insert only the pairs not recorded yet, in one statement with the ids as one array.

    A service reports the same requests over and over: a model instance per
    pair and an upsert of them all cost 5 ms of CPU per 500-request batch.
    """
    table = RequestPublisher._meta.db_table
    request, service = (RequestPublisher._meta.get_field(name) for name in ("request", "service"))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({request.column}, {service.column}) "
            f"SELECT wanted.id, %s FROM unnest(%s::{request.db_type(connection)}[]) AS wanted(id) "
            f"WHERE NOT EXISTS (SELECT 1 FROM {table} known "
            f"WHERE known.{request.column} = wanted.id AND known.{service.column} = %s) "
            "ON CONFLICT DO NOTHING",
            [service_id, list(request_ids), service_id],  # UUIDs or their strings, as psycopg binds either
        )


def published_by(tracked: TrackedRequest, service) -> bool:
    return RequestPublisher.objects.filter(request=tracked, service=service).exists()


def request_ledger(tracked: TrackedRequest) -> dict:
    """Return the ledger of a request: each of its events in order, with what happened to it (null: did not)."""
    events = list(tracked.events.order_by("position"))
    seqs = [event.seq for event in events]
    deliveries = {row.seq: row for row in EventDelivery.objects.filter(stream=tracked.owner_id, seq__in=seqs)}
    read_at = _read_times(tracked.owner_id, [event.position for event in events])
    escalation = UnseenEscalation.objects.filter(request=tracked, escalated_at__isnull=False).first()
    entries = [_entry(event, deliveries.get(event.seq), read_at, escalation) for event in events]
    return {"request": str(tracked.pk), "events": entries}


def _entry(event, delivery, read_at: dict, escalation) -> dict:
    state = event.payload.get("request", {}) if isinstance(event.payload, dict) else {}
    escalated = escalation is not None and escalation.event_id == event.position and escalation.escalated_via
    return {
        "id": str(event.id),
        "status": state.get("status"),
        "progress": state.get("progress"),
        "stored_at": event.created_at,
        "fanned_out_at": event.fanned_out_at,
        "first_delivered_at": delivery.first_delivered_at if delivery else None,
        "connections": delivery.connections if delivery else 0,
        "protocols": [name for name, bit in PROTOCOL_BITS.items() if delivery and delivery.protocols & bit],
        "read_at": read_at.get(event.position),
        "escalated_at": escalation.escalated_at if escalated else None,
        "escalated_via": list(escalation.escalated_via) if escalated else None,
    }


def _read_times(user_id: int, positions: list[int]) -> dict[int, datetime]:
    """Return, for each position, when the read marker first passed it (absent: not read)."""
    if not positions:
        return {}
    marks = list(ReadMark.objects.filter(user_id=user_id, position__gte=min(positions)).order_by("position"))
    earliest_from = [mark.at for mark in marks]  # the earliest move at or past each mark's position
    for index in range(len(marks) - 2, -1, -1):
        earliest_from[index] = min(earliest_from[index], earliest_from[index + 1])
    mark_positions = [mark.position for mark in marks]
    times = {}
    for position in positions:
        index = bisect.bisect_left(mark_positions, position)
        if index < len(marks):
            times[position] = earliest_from[index]
    return times
