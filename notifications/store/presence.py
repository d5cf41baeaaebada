"""Who is online across every instance: the `Connection` rows, written by their instances, read by anyone.

Each instance writes its own rows (see `presence_writer.py`) and refreshes
their `last_seen` in one UPDATE per heartbeat. A row counts as online while
`last_seen` is within NOTIFY_PRESENCE_TIMEOUT_SECS, so the rows of a killed
instance stop counting within that bound even before anyone deletes them.
Every function here is sync (views, the admin, management commands); the
hub wraps them with `database_sync_to_async`.
"""

import socket
from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from notifications import conf
from notifications.models import Connection
from notifications.store import rowupdates


def instance_name() -> str:
    """Return this instance's name in presence (NOTIFY_INSTANCE_NAME, else the host name)."""
    return settings.NOTIFY_INSTANCE_NAME or socket.gethostname()


def fresh_after(now: datetime | None = None) -> datetime:
    """Return the oldest heartbeat that still counts as online."""
    return (now or timezone.now()) - timedelta(seconds=conf.presence_timeout_secs())


def online_connections(now: datetime | None = None) -> QuerySet[Connection]:
    """Return the connections whose instance has sent a heartbeat within the timeout."""
    return Connection.objects.filter(last_seen__gte=fresh_after(now))


def online_snapshot() -> dict:
    """Return the users online and the connections per server instance, for GET /api/v1/presence/."""
    rows = list(online_connections().select_related("user").order_by("user_id", "connected_at"))
    per_instance: dict[str, int] = defaultdict(int)
    users: dict[int, dict] = {}
    for row in rows:
        per_instance[row.instance] += 1
        user = users.setdefault(
            row.user_id, {"id": row.user_id, "username": row.user.get_username(), "connections": []}
        )
        user["connections"].append(
            {
                "connection_id": row.connection_id,
                "instance": row.instance,
                "protocol": row.protocol,
                "connected_at": row.connected_at.isoformat(),
                "last_activity": row.last_activity.isoformat(),
                "last_seen": row.last_seen.isoformat(),
            }
        )
    return {
        "online_users": len(users),
        "connections": len(rows),
        "instances": [{"name": name, "connections": count} for name, count in sorted(per_instance.items())],
        "users": list(users.values()),
        "timeout_secs": conf.presence_timeout_secs(),
    }


# --- writes by the holding process ----------------------------------------------------


def apply_changes(process: str, added: list[Connection], removed: set[str]) -> None:
    """Insert the process's new connections and delete its closed ones, in one transaction."""
    now = timezone.now()
    for row in added:
        row.process, row.last_seen = process, now
    with transaction.atomic():
        if added:
            Connection.objects.bulk_create(added, ignore_conflicts=True)
        if removed:
            Connection.objects.filter(connection_id__in=removed).delete()


def heartbeat(process: str, activity: dict[str, datetime], expected: int) -> set[str] | None:
    """Refresh the process's rows; return the ids an operator asked to disconnect.

    Also deletes every row past the timeout (any instance's: the opportunistic
    clean-up of killed instances). Returns None when fewer rows than
    `expected` were refreshed (another instance deleted ours as stale while we
    could not reach the database), so that the caller writes them again.
    """
    now = timezone.now()
    with transaction.atomic():
        refreshed = Connection.objects.filter(process=process).update(last_seen=now)
        if activity:
            rows = [Connection(connection_id=cid, last_activity=at) for cid, at in activity.items()]
            rowupdates.update_rows(Connection, rows, ["last_activity"])
    delete_stale(now)
    if refreshed < expected:
        return None
    return set(
        Connection.objects.filter(process=process, disconnect_requested_at__isnull=False).values_list(
            "connection_id", flat=True
        )
    )


def delete_process(process: str) -> int:
    """Delete every row of one process (its clean shutdown); return how many went."""
    return Connection.objects.filter(process=process).delete()[0]


def delete_stale(now: datetime | None = None) -> int:
    """Delete the rows no instance has refreshed within the timeout, each with its `instance_lost` event."""
    from notifications.store import connection_events  # built on this module

    return connection_events.declare_lost(now)


def request_disconnect(user_id: int) -> int:
    """Mark the user's connections so their instances close them at the next heartbeat; return how many."""
    return Connection.objects.filter(user_id=user_id, disconnect_requested_at__isnull=True).update(
        disconnect_requested_at=timezone.now()
    )
