"""Who a socket is, from its handshake: the session cookie or a `?ticket=` (PROTOCOL sections 1 and 4).

Every protocol adapter authenticates through here, so a ticket, a logout or
a deactivated user means the same on each. A ticket connect claims the
ticket and reads the stream's head in one thread hop (it runs on every one).
"""

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qs

from channels.db import database_sync_to_async

from notifications.protocol.cursors import Cursor
from notifications.store import streams, tickets


@dataclass(frozen=True)
class Identity:
    """An authenticated socket's user, its Django session key ("" without one), and what was read with it."""

    user: object
    session_key: str
    how: str  # "session" or "ticket"
    head: Cursor | None = None  # the stream's head, when read in the same hop
    expires_at: datetime | None = None  # when the session behind the socket expires


@dataclass(frozen=True)
class Refusal:
    """Why a socket is not authenticated (logged; never the ticket itself)."""

    reason: str  # "no_session" or "bad_ticket"


def _redeem_with_head(raw_ticket: str) -> tuple[tickets.RedeemedTicket | None, Cursor | None]:
    """Claim a ticket and read its user's stream head in one thread hop."""
    redeemed = tickets.redeem_ticket(raw_ticket)
    if redeemed is None or not redeemed.user.is_active:
        return None, None
    return redeemed, streams.head_cursor(redeemed.user.pk)


def ticket_of(scope: dict) -> str | None:
    """Return the `?ticket=` of a handshake, or None."""
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("ticket")
    return values[0] if values else None


async def authenticate(scope: dict) -> Identity | Refusal:
    """Return who the handshake authenticates: a ticket if it carries one, else its session's user."""
    raw_ticket = ticket_of(scope)
    if raw_ticket:
        redeemed, head = await database_sync_to_async(_redeem_with_head)(raw_ticket)
        if redeemed is None:
            return Refusal("bad_ticket")
        return Identity(redeemed.user, redeemed.session_key, "ticket", head)
    user = scope.get("user")
    if user is None or not user.is_authenticated:
        return Refusal("no_session")
    session = scope.get("session")
    key = (session.session_key or "") if session is not None else ""
    return Identity(user, key, "session", expires_at=session.get_expiry_date() if key else None)
