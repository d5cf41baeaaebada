"""WebSocket tickets: short-lived, single-use passes for clients without a session cookie.

Only a ticket's digest is stored, so a database dump cannot open sockets.
Redeeming is one conditional UPDATE, so two sockets racing with one ticket
cannot both win. Both functions are sync; the consumer wraps them with
`database_sync_to_async`.
"""

import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.utils import timezone

from notifications import conf
from notifications.models import WebSocketTicket, hash_secret
from notifications.store import sessions

# Expired tickets are kept this long after expiry, then deleted by the next issue.
EXPIRED_TICKET_RETENTION = timedelta(hours=1)


def ticket_ttl_secs() -> int:
    """Return how long a new ticket stays valid (setting NOTIFY_TICKET_TTL_SECS)."""
    return conf.ticket_ttl_secs()


def issue_ticket(user: AbstractBaseUser, session_key: str = "", ttl_seconds: int | None = None) -> str:
    """Store a new ticket bound to the user (and session) and return its raw value, never stored."""
    raw = secrets.token_urlsafe(32)
    now = timezone.now()
    ttl = ticket_ttl_secs() if ttl_seconds is None else ttl_seconds
    WebSocketTicket.objects.create(
        ticket_hash=hash_secret(raw),
        user=user,
        session_key=session_key or "",
        expires_at=now + timedelta(seconds=ttl),
    )
    delete_expired_tickets(now)
    return raw


@dataclass(frozen=True)
class RedeemedTicket:
    user: AbstractBaseUser
    session_key: str


def redeem_ticket(raw: str) -> RedeemedTicket | None:
    """Use the ticket up and return its user and session, or None if unknown, used, expired or its session ended.

    A ticket issued from a browser session is worth no more than that
    session: after a logout it opens nothing. A token holder's has no session.
    """
    redeemed = _claim(raw)
    if redeemed is None or (redeemed.session_key and not sessions.is_signed_in(redeemed.user.pk, redeemed.session_key)):
        return None
    return redeemed


def _claim(raw: str) -> RedeemedTicket | None:
    """Claim the ticket and return its user and session key, or None if unknown, used or expired.

    A conditional `UPDATE ... RETURNING` claims it, so two sockets racing with
    one ticket cannot both win. It runs on every ticket connect: on
    PostgreSQL the claim and the user's row are one statement, elsewhere two
    plain ones (the ORM's query building had been the costliest part of a
    connect in profiles).
    """
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    user_model = get_user_model()
    fields = user_model._meta.concrete_fields
    quote = connection.ops.quote_name
    columns = ", ".join(f"u.{quote(field.column)}" for field in fields)
    claim = (
        f"UPDATE {quote(WebSocketTicket._meta.db_table)} SET used_at = %s "
        "WHERE ticket_hash = %s AND used_at IS NULL AND expires_at > %s RETURNING user_id, session_key"
    )
    users = f"{quote(user_model._meta.db_table)} u"
    user_pk = f"u.{quote(user_model._meta.pk.column)}"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"WITH claimed AS ({claim}) "
                f"SELECT claimed.session_key, {columns} FROM claimed JOIN {users} ON {user_pk} = claimed.user_id",
                [now, hash_secret(raw), now],
            )
            row = cursor.fetchone()
        else:
            cursor.execute(claim, [now, hash_secret(raw), now])
            claimed = cursor.fetchone()
            row = None
            if claimed is not None:
                cursor.execute(f"SELECT %s, {columns} FROM {users} WHERE {user_pk} = %s", [claimed[1], claimed[0]])
                row = cursor.fetchone()
    if row is None:
        return None
    session_key, *values = row
    return RedeemedTicket(_model_from_row(user_model, fields, values), session_key)


def _model_from_row(model, fields, values):
    """Build a model instance from raw column values, converted as the ORM converts them."""
    converted = []
    for field, value in zip(fields, values, strict=True):
        column = field.get_col(model._meta.db_table)
        for converter in connection.ops.get_db_converters(column) + column.get_db_converters(connection):
            value = converter(value, column, connection)
        converted.append(value)
    return model.from_db(connection.alias, [field.attname for field in fields], converted)


def delete_expired_tickets(now=None) -> int:
    """Delete tickets that expired over an hour ago; return how many went."""
    cutoff = (now or timezone.now()) - EXPIRED_TICKET_RETENTION
    deleted, _ = WebSocketTicket.objects.filter(expires_at__lt=cutoff).delete()
    return deleted
