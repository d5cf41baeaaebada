"""MQTT 3.1.1 section 3.1.4: a CONNECT with a client id that is connected already takes over, on any instance.

The new connection closes the older ones of its user and client id held by
this process, and asks every instance holding the user's sockets (the
user's layer group) to close theirs. For a persistent session it then
waits, at most TAKEOVER_WAIT_SECS, until the older connection's last flush
has stored where it stopped, so that the new one resumes exactly there:
nothing acknowledged comes again, nothing is skipped. See docs/mqtt.md.
"""

import asyncio
import logging

from channels.db import database_sync_to_async

from notifications.protocol import layer_messages
from notifications.realtime.adapters.mqtt_acks import SENT_UNKNOWN
from notifications.realtime.hub import Hub
from notifications.realtime.layer import LayerUnavailable
from notifications.store import mqtt_sessions

logger = logging.getLogger(__name__)

TAKEOVER_MESSAGE = "mqtt.takeover"
# The close code of a connection another CONNECT with its client id took over.
CLOSE_TAKEN_OVER = 4409
# How long a persistent session waits for the older connection's last flush (an instance that died never flushes).
TAKEOVER_WAIT_SECS = 2.0
POLL_SECS = 0.05


def takeover_message(user_id: int, client_id: str, connection_id: str) -> dict:
    return {"type": TAKEOVER_MESSAGE, "user_id": user_id, "client_id": client_id, "by": connection_id}


def close_older(hub: Hub, message: dict) -> int:
    """Close this process's MQTT connections of the message's user and client id, but the new one; return how many."""
    older = [
        connection
        for connection in list(hub.connections.get(message["user_id"], ()))
        if connection.protocol == "mqtt"
        and getattr(connection.transport, "client_id", None) == message["client_id"]
        and connection.connection_id != message["by"]
    ]
    for connection in older:
        logger.info("MQTT client id taken over", extra=connection.log_context("mqtt.taken_over"))
        hub.tasks.spawn(connection.close(CLOSE_TAKEN_OVER), "mqtt takeover")
    return len(older)


def on_takeover(message: dict) -> None:
    """Handle another instance's takeover message (registered with the hub for TAKEOVER_MESSAGE)."""
    hub = Hub.running()
    if hub is not None:
        close_older(hub, message)


Hub.extra_handlers[TAKEOVER_MESSAGE] = on_takeover


async def take_over(session, client_id: str, persistent: bool) -> None:
    """Close every older connection of the session's client id, here and elsewhere; if persistent, await its flush."""
    user_id = session.user_id
    message = takeover_message(user_id, client_id, session.connection_id)
    close_older(session.hub, message)
    try:
        await session.hub.link.call("group_send", layer_messages.user_group(user_id), message)
    except LayerUnavailable:
        logger.warning("MQTT takeover not sent to other instances: the channel layer is unavailable")
    if persistent:
        await _await_last_flush(user_id, client_id)


async def _await_last_flush(user_id: int, client_id: str) -> None:
    held = database_sync_to_async(mqtt_sessions.has_sent)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TAKEOVER_WAIT_SECS
    while await held(user_id, client_id, SENT_UNKNOWN) and loop.time() < deadline:
        await asyncio.sleep(POLL_SECS)
