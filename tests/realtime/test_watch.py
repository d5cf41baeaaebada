"""The watch: sockets stalled behind their stream's head are sent to the database (notifications/watch.py)."""

import pytest

from notifications.protocol.cursors import Cursor
from tests.sockets import live_socket, make_user, publish

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_message_the_layer_lost_is_delivered_by_the_heads_check(hub, monkeypatch):
    """If the layer silently drops an event, the heads check sends it anyway, once: when the socket is
    seen behind its stream's head at two checks in a row without moving."""
    monkeypatch.setattr(hub, "on_events_stored", lambda message: None)
    user = await make_user("ada")
    communicator = await live_socket(user)
    _, event = await publish(user)
    assert await communicator.receive_nothing(timeout=0.3)
    await hub.watch.check_heads()
    assert await communicator.receive_nothing(timeout=0.3), "behind once is not yet stalled"
    await hub.watch.check_heads()
    frames = [await communicator.receive_json_from(timeout=5) for _ in range(2)]
    assert frames[-1]["id"] == str(event.id)
    await hub.watch.check_heads()
    await hub.watch.check_heads()
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


class StubConnection:
    """A socket as the heads check sees it: a position, and whether it was asked to catch up."""

    def __init__(self, user_id: int, position: Cursor):
        self.user_id = user_id
        self.asked = 0
        self.delivery = self
        self.position = position
        self.is_busy = False

    def catch_up(self) -> None:
        self.asked += 1


async def test_the_heads_check_asks_only_stalled_sockets_to_catch_up(hub):
    """Behind the head and not moving: asked to catch up. Behind but receiving: left to its live events."""
    user = await make_user("ada")
    await publish(user)
    socket = StubConnection(user.pk, Cursor(0, 0))
    hub.connections[user.pk].add(socket)
    try:
        await hub.watch.check_heads()
        assert socket.asked == 0, "first seen behind the head: its events may be on the way"
        socket.position = Cursor(0, 1)
        await hub.watch.check_heads()
        assert socket.asked == 0, "it moved since: its live events are coming"
        await hub.watch.check_heads()
        assert socket.asked == 1, "stalled behind the head"
        socket.position = Cursor(0, 2)
        await hub.watch.check_heads()
        await hub.watch.check_heads()
        assert socket.asked == 1, "at the head: nothing to catch up"
    finally:
        hub.connections.pop(user.pk)
