"""Who a socket is, from its handshake: the session cookie, a `?ticket=` or a JWT (PROTOCOL sections 1, 4, 5.4).

Every protocol adapter authenticates through here, so a ticket, a token, a
logout or a deactivated user means the same on each. A ticket or token
connect checks its credential and reads the stream's head in one thread hop
(it runs on every one). A token's identity expires at its `exp`.
"""

import logging
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model

from notifications.protocol.cursors import Cursor
from notifications.realtime.jwt_auth import InvalidToken, check_token
from notifications.store import streams, tickets

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Identity:
    """An authenticated socket's user, its Django session key ("" without one), and what was read with it."""

    user: object
    session_key: str
    how: str  # "session", "ticket" or "token"
    head: Cursor | None = None  # the stream's head, when read in the same hop
    expires_at: datetime | None = None  # when the session behind the socket expires


@dataclass(frozen=True)
class Refusal:
    """Why a socket is not authenticated (logged; never the ticket itself)."""

    reason: str  # "no_session", "bad_ticket" or "bad_token"


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


def token_of(scope: dict) -> str | None:
    """Return the JWT of a handshake: its `?token=`, else its `Authorization: Bearer` value, else None."""
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
    if values:
        return values[0]
    for name, value in scope.get("headers", []):
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            return value[7:].decode("latin-1").strip() or None
    return None


def carried_credential(scope: dict) -> str | None:
    """Return the ticket or token a handshake carries, or None (a SockJS session admits its requests by it)."""
    return ticket_of(scope) or token_of(scope)


def identify_token(raw_token: str, *, with_head: bool = True) -> Identity | Refusal:
    """Return the active user a JWT names, expiring at its `exp` (and its stream's head), or a Refusal."""
    try:
        claims = check_token(raw_token)
    except InvalidToken as refused:
        logger.info("token refused: %s", refused.reason, extra={"event": "ws.token_refused", "reason": refused.reason})
        return Refusal("bad_token")
    user_model = get_user_model()
    user = user_model._default_manager.filter(**{user_model.USERNAME_FIELD: claims.username}).first()
    if user is None or not user.is_active:
        logger.info("token refused: no active user", extra={"event": "ws.token_refused", "reason": "unknown_user"})
        return Refusal("bad_token")
    head = streams.head_cursor(user.pk) if with_head else None
    return Identity(user, "", "token", head, expires_at=claims.expires_at)


async def authenticate(scope: dict) -> Identity | Refusal:
    """Return who the handshake authenticates: its ticket, else its token, else its session's user."""
    raw_ticket = ticket_of(scope)
    if raw_ticket:
        redeemed, head = await database_sync_to_async(_redeem_with_head)(raw_ticket)
        if redeemed is None:
            return Refusal("bad_ticket")
        return Identity(redeemed.user, redeemed.session_key, "ticket", head)
    raw_token = token_of(scope)
    if raw_token:
        return await database_sync_to_async(identify_token)(raw_token)
    user = scope.get("user")
    if user is None or not user.is_authenticated:
        return Refusal("no_session")
    session = scope.get("session")
    key = (session.session_key or "") if session is not None else ""
    return Identity(user, key, "session", expires_at=session.get_expiry_date() if key else None)
