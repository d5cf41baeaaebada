"""The session core: an unexpected error or a failed delivery ends the socket cleanly, and it is logged once."""

import logging

import pytest
from channels.db import database_sync_to_async

from notifications.protocol import frames
from notifications.realtime.adapters.json_socket import JsonSocketConsumer
from notifications.store import tickets
from tests.sockets import make_user, open_socket, publish, signed_in_socket

pytestmark = pytest.mark.django_db(transaction=True)


def failures(caplog) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.levelno >= logging.ERROR and record.exc_info]


async def test_an_unexpected_error_handling_a_frame_unregisters_the_socket_and_closes_with_1011(
    hub, monkeypatch, caplog
):
    """A bug while handling a frame: logged once with its traceback, the hub and presence drop the socket, 1011."""
    communicator, welcome = await signed_in_socket(await make_user("ada"))
    assert hub.connection_count() == 1
    left_presence = []
    real_disconnected = hub.presence.disconnected
    monkeypatch.setattr(
        hub.presence, "disconnected", lambda c: (left_presence.append(c.connection_id), real_disconnected(c))
    )

    def broken_pong(ts, ref):
        raise RuntimeError("a bug")

    monkeypatch.setattr(frames, "pong", broken_pong)
    await communicator.send_json_to({"type": "ping", "ts": 1})
    assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": 1011}
    assert hub.connection_count() == 0
    assert left_presence == [welcome["connection_id"]]
    assert len(failures(caplog)) == 1


async def test_a_failed_delivery_closes_the_socket_with_1011_so_the_client_resumes(hub, monkeypatch, caplog):
    """When sending an event fails unexpectedly, the pump's failure is logged and the socket ends with 1011."""
    user = await make_user("ada")
    await publish(user)

    async def broken_send_event(self, frame_text, cursor):
        raise RuntimeError("the transport broke")

    monkeypatch.setattr(JsonSocketConsumer, "send_event", broken_send_event)
    communicator, _ = await signed_in_socket(user, resume="0" * 24)
    assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": 1011}
    assert hub.connection_count() == 0
    assert len(failures(caplog)) == 1


async def test_a_ticket_issued_from_a_session_that_ended_is_refused_with_4401(hub):
    """A ticket bound to a session that no longer exists (logout) opens nothing."""
    user = await make_user("ada")
    raw = await database_sync_to_async(tickets.issue_ticket)(user, session_key="gone-since-logout")
    communicator, connected, _ = await open_socket(path=f"/ws/notifications/?ticket={raw}")
    assert connected
    assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": 4401}
