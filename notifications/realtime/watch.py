"""What the layer lost without a trace, found from the database: stalled sockets and ended sessions.

The layer is only the fast path (docs/architecture.md). A socket closes a gap
before its newest event itself; this watch finds the two things no later
message reveals: a socket stalled behind the head of its stream (the newest
events were lost, or committed before its group was bound), and a session
that ended or a user deactivated while no message said so.
"""

from channels.db import database_sync_to_async

from notifications.protocol import layer_messages
from notifications.protocol.cursors import Cursor
from notifications.store import sessions as session_state
from notifications.store import streams


class SocketWatch:
    """Checks over a hub's local sockets; the hub runs `check_heads` and `check_sessions` periodically."""

    def __init__(self, hub):
        self.hub = hub
        # Each socket behind its head at the last check, with its position then.
        self._behind_at_last_check: dict[object, Cursor] = {}
        self._just_bound: set[int] = set()

    def bound(self, user_id: int) -> None:
        """Check the user's sockets against its stream's head now that its group is bound.

        An event committed between `welcome` and the binding reached nobody
        here. The bindings that complete together (a burst of connections) are
        checked with one heads query, instead of one stream read per socket.
        """
        self._just_bound.add(user_id)
        if len(self._just_bound) == 1:
            self.hub.tasks.spawn(self.hub.guarded(self._catch_up_just_bound), "catch_up_bound")

    async def _catch_up_just_bound(self) -> None:
        user_ids, self._just_bound = self._just_bound, set()
        announcements, own = await database_sync_to_async(streams.heads_for_users)(list(user_ids))
        for user_id in user_ids:
            for connection in list(self.hub.connections.get(user_id, ())):
                if connection.delivery.position.is_behind(announcements, own.get(user_id, 0)):
                    connection.delivery.catch_up()

    async def check_heads(self) -> None:
        """Ask every socket stalled behind its stream's head since the last check to catch up.

        A socket that moved since the last check is receiving: a loss before
        its newest event shows as a gap, which it closes itself. So is one with
        live events queued that its pump has not reached yet (a saturated
        instance). Only a stalled one can be missing the tail of its stream;
        asking busy sockets too would send them all to the database at once
        under load, and make the load worse.
        """
        user_ids = list(self.hub.connections)
        if not user_ids:
            return
        announcements, own = await database_sync_to_async(streams.heads_for_users)(user_ids)
        previous, self._behind_at_last_check = self._behind_at_last_check, {}
        for connection in self.hub.local_connections():
            position = connection.delivery.position
            if not position.is_behind(announcements, own.get(connection.user_id, 0)):
                continue
            self._behind_at_last_check[connection] = position
            if previous.get(connection) == position and not connection.delivery.is_busy:
                connection.delivery.catch_up()

    async def check_sessions(self) -> None:
        """Close the sockets whose session ended or whose user was deactivated (even if no message said so)."""
        connections = self.hub.local_connections()
        if not connections:
            return
        pairs = {(c.user_id, c.session_key) for c in connections}
        ended = await database_sync_to_async(session_state.find_ended)(pairs)
        for connection in connections:
            if (connection.user_id, connection.session_key) in ended:
                connection.offer_control(layer_messages.session_ended_message(connection.user_id, None))
