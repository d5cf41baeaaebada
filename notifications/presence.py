"""Who is online, as far as this instance knows (the sockets it holds)."""

import asyncio
import socket

from django.conf import settings

from .hub import Hub

SNAPSHOT_TIMEOUT_SECS = 2.0


def instance_name() -> str:
    return settings.NOTIFY_INSTANCE_NAME or socket.gethostname()


def online_snapshot() -> dict:
    """Return this instance's sockets grouped by user (call from a sync view)."""
    hub = Hub.running()
    if hub is None or hub.loop is None:
        return {"instances": [{"name": instance_name(), "connections": 0}], "users": []}
    future = asyncio.run_coroutine_threadsafe(_snapshot(hub), hub.loop)
    return future.result(SNAPSHOT_TIMEOUT_SECS)


async def _snapshot(hub: Hub) -> dict:
    name = instance_name()
    users = []
    for user_id, sockets in hub.connections.items():
        connections = [
            {
                "connection_id": s.connection_id,
                "instance": name,
                "connected_at": s.connected_at.isoformat(),
                "last_activity": s.last_activity.isoformat(),
            }
            for s in sockets
        ]
        username = next(iter(sockets)).user.get_username()
        users.append({"id": user_id, "username": username, "connections": connections})
    return {"instances": [{"name": name, "connections": hub.connection_count()}], "users": users}
