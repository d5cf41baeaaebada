"""The heads check leaves busy sockets to their queued live events instead of sending them to the database."""

import pytest

from notifications.protocol.cursors import Cursor
from tests.realtime.test_watch import StubConnection
from tests.sockets import make_user, publish

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_socket_with_live_events_queued_is_not_asked_to_catch_up_until_its_queue_is_empty(hub):
    """Behind and unmoved, but its pump has events to send (a saturated instance): not stalled, not asked."""
    user = await make_user("ada")
    await publish(user)
    socket = StubConnection(user.pk, Cursor(0, 0))
    socket.is_busy = True
    hub.connections[user.pk].add(socket)
    try:
        for _ in range(3):
            await hub.watch.check_heads()
        assert socket.asked == 0
        socket.is_busy = False
        await hub.watch.check_heads()
        assert socket.asked == 1, "its queue is empty and it is still behind: stalled"
    finally:
        hub.connections.pop(user.pk)
