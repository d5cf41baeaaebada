"""WebSocket tickets: short-lived, single-use passes for clients without a session cookie.

Only a ticket's digest is stored, so a database dump cannot open sockets.
Redeeming is one conditional UPDATE, so two sockets racing with one ticket
cannot both win. Both functions are sync; the consumer wraps them with
`database_sync_to_async`.
"""

import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.utils import timezone

from .models import WebSocketTicket, hash_secret

DEFAULT_TICKET_TTL_SECS = 60
# Expired tickets are kept this long after expiry, then deleted by the next issue.
EXPIRED_TICKET_RETENTION = timedelta(hours=1)


def ticket_ttl_secs() -> int:
    """Return how long a new ticket stays valid (setting NOTIFY_TICKET_TTL_SECS)."""
    return getattr(settings, "NOTIFY_TICKET_TTL_SECS", DEFAULT_TICKET_TTL_SECS)


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
    """Use the ticket up and return its user and session, or None if unknown, used or expired.

    One plain `UPDATE ... RETURNING` claims it: it runs on every ticket
    connect, and two sockets racing with one ticket cannot both win.
    """
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    table = WebSocketTicket._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET used_at = %s WHERE ticket_hash = %s AND used_at IS NULL AND expires_at > %s "
            "RETURNING user_id, session_key",
            [now, hash_secret(raw), now],
        )
        claimed = cursor.fetchone()
    if claimed is None:
        return None
    user_id, session_key = claimed
    user = get_user_model()._default_manager.filter(pk=user_id).first()
    return None if user is None else RedeemedTicket(user, session_key)


def delete_expired_tickets(now=None) -> int:
    """Delete tickets that expired over an hour ago; return how many went."""
    cutoff = (now or timezone.now()) - EXPIRED_TICKET_RETENTION
    deleted, _ = WebSocketTicket.objects.filter(expires_at__lt=cutoff).delete()
    return deleted
