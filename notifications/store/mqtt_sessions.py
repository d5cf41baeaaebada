"""Persistent MQTT sessions (clean session 0): per user and client id, the subscriptions and positions.

`acked` is where everything before was acknowledged (PUBACK at QoS 1, sent
at QoS 0, or matched no subscription); `sent` is the last event sent. A
reconnect replays after `acked`, those up to `sent` with DUP set. Positions
are written in batches by the adapter, never one UPDATE per PUBACK.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from notifications import conf
from notifications.models import MqttSession, TrackedRequest
from notifications.protocol.cursors import Cursor


@dataclass(frozen=True)
class StoredSession:
    subscriptions: list[tuple[str, int]]
    acked: Cursor
    sent: Cursor
    present: bool  # whether it existed before this connect


def open_session(user_id: int, client_id: str, clean: bool, head: Cursor) -> StoredSession | None:
    """Return the client's stored session (a new one starts at `head`), or None after discarding it for clean 1."""
    if clean:
        MqttSession.objects.filter(user_id=user_id, client_id=client_id).delete()
        return None
    at = {"acked_announcements": head.announcements, "acked_own": head.own}
    at |= {"sent_announcements": head.announcements, "sent_own": head.own}
    row, created = MqttSession.objects.get_or_create(user_id=user_id, client_id=client_id, defaults=at)
    return StoredSession(
        [(topic_filter, qos) for topic_filter, qos in row.subscriptions],
        Cursor(row.acked_announcements, row.acked_own),
        Cursor(row.sent_announcements, row.sent_own),
        present=not created,
    )


def _sessions(user_id: int, client_id: str):
    return MqttSession.objects.filter(user_id=user_id, client_id=client_id)


def save_subscriptions(user_id: int, client_id: str, subscriptions: list[list]) -> None:
    _sessions(user_id, client_id).update(subscriptions=subscriptions, updated_at=timezone.now())


def save_positions(user_id: int, client_id: str, acked: Cursor, sent: Cursor) -> None:
    """Store where the client is (called every flush period and when the connection ends)."""
    _sessions(user_id, client_id).update(
        acked_announcements=acked.announcements,
        acked_own=acked.own,
        sent_announcements=sent.announcements,
        sent_own=sent.own,
        updated_at=timezone.now(),
    )


def owns_request(user_id: int, request_id: str) -> bool:
    """Return whether the request exists and is the user's."""
    return TrackedRequest.objects.filter(pk=request_id, owner_id=user_id).exists()


def delete_stale_sessions(now=None) -> int:
    """Delete sessions untouched for the history window (their positions are past the kept events)."""
    cutoff = (now or timezone.now()) - timedelta(days=conf.history_days())
    return MqttSession.objects.filter(updated_at__lt=cutoff).delete()[0]


def has_sent(user_id: int, client_id: str, sent: Cursor) -> bool:
    """Return whether the client's stored session exists with `sent` stored as this cursor (the live marker)."""
    return _sessions(user_id, client_id).filter(sent_announcements=sent.announcements, sent_own=sent.own).exists()
