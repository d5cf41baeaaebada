"""Poison events: payloads written straight into the database, past every check, that no encoder can send."""

from django.db import connection

# Valid JSON text that cannot be sent: a lone surrogate (SQLite's JSON column
# keeps the escape; PostgreSQL's jsonb refuses it), and an integer too long for
# Python to read back (jsonb keeps it).
UNENCODABLE = {"sqlite": '{"kind": "request.status", "title": "\\ud800"}'}
UNLOADABLE_NUMBER = '{"kind": "request.status", "progress": 1e5000}'
# Deeper than Python's JSON decoder reads back, on either database.
TOO_DEEP = '{"kind": "request.status", "data": ' + "[" * 1500 + "]" * 1500 + "}"


def poison_text() -> str:
    """Return a poison payload this database stores."""
    return UNENCODABLE.get(connection.vendor, UNLOADABLE_NUMBER)


def force_payload(position: int, text: str) -> None:
    """Write a payload straight into the row, as a broken writer or a bad migration would."""
    with connection.cursor() as cursor:
        cursor.execute("UPDATE notifications_event SET payload = %s WHERE position = %s", [text, position])
