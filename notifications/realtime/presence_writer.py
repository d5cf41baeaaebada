"""Record this process's sockets in the `Connection` table without making any socket wait on the database.

Connects and disconnects are queued in memory and written in batches by one
task (so a thousand sockets opening at once cost a few INSERTs, not a
thousand round trips on the socket's path). A socket that closes before its
row was written cancels out in memory. A batch that fails stays queued and
is written again, so no delete is ever lost; a row that was never written
is never deleted twice. The same task sends the heartbeat. Each connect and
disconnect also queues its connection event (PROTOCOL 5.2), written in the
same transaction as the rows (see `store/connection_events.py`).
"""

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime

from channels.db import database_sync_to_async

from notifications import conf
from notifications.models import Connection
from notifications.realtime import connection_events
from notifications.store import connection_events as stored_events
from notifications.store import presence

logger = logging.getLogger(__name__)

FLUSH_DELAY_SECS = 0.05  # gather a burst of connects into one batch
RETRY_DELAY_SECS = 1.0


class PresenceWriter:
    """Own this process's presence rows: batched inserts and deletes, heartbeat, clean shutdown."""

    def __init__(self, instance: str, local_connections: Callable[[], Iterable]):
        self.instance = instance
        self.process = uuid.uuid4().hex
        self._local_connections = local_connections
        self._added: dict[str, Connection] = {}
        self._removed: set[str] = set()
        self._events: list = []  # connection events not yet stored
        self.on_stored: Callable[[], None] = lambda: None
        self._written: dict[str, datetime] = {}  # connection id -> last_activity as written
        self._wake = asyncio.Event()
        self._last_heartbeat = time.monotonic()
        self.closed = False

    # --- called by the hub, on its loop, never blocking ---------------------------------

    def connected(self, connection) -> None:
        if self.closed:
            return
        self._added[connection.connection_id] = Connection(
            connection_id=connection.connection_id,
            user_id=connection.user_id,
            instance=self.instance,
            protocol=connection.protocol,
            connected_at=connection.connected_at,
            last_activity=connection.last_activity,
        )
        self._events.append(connection_events.opened(connection, self.instance))
        self._wake.set()

    def disconnected(self, connection) -> None:
        if self._added.pop(connection.connection_id, None) is None:
            self._removed.add(connection.connection_id)
        if not self.closed:
            self._events.append(connection_events.closed(connection, self.instance))
        self._wake.set()

    # --- the writer task -----------------------------------------------------------------

    async def run_forever(self, on_disconnect_requested: Callable[[set[str]], None]) -> None:
        """Write batches as they come and a heartbeat every period; hand back operator disconnect requests."""
        while True:
            period = conf.presence_heartbeat_secs()
            wait = max(0.0, period - (time.monotonic() - self._last_heartbeat))
            try:
                await asyncio.wait_for(self._wake.wait(), wait)
                await asyncio.sleep(FLUSH_DELAY_SECS)
            except TimeoutError:
                pass
            self._wake.clear()
            if not await self._step(on_disconnect_requested, period):
                await asyncio.sleep(RETRY_DELAY_SECS)

    async def _step(self, on_disconnect_requested, period: float) -> bool:
        try:
            await self.flush()
            if time.monotonic() - self._last_heartbeat >= period:
                requested = await self.heartbeat()
                if requested:
                    on_disconnect_requested(requested)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("presence: writing this instance's connections failed; retrying")
            return False
        return True

    async def flush(self) -> None:
        """Write the queued connects and disconnects; on failure they stay queued."""
        if not self._added and not self._removed and not self._events:
            return
        added, removed, events = self._added, self._removed, self._events
        self._added, self._removed, self._events = {}, set(), []
        try:
            await database_sync_to_async(stored_events.apply_changes)(
                self.process, list(added.values()), removed, events
            )
        except BaseException:
            self._requeue(added, removed)
            self._events[:0] = events
            raise
        if events:
            self.on_stored()
        for cid, row in added.items():
            self._written[cid] = row.last_activity
        for cid in removed:
            self._written.pop(cid, None)

    def _requeue(self, added: dict[str, Connection], removed: set[str]) -> None:
        for cid, row in added.items():
            if cid in self._removed:  # closed meanwhile: it never needs writing
                self._removed.discard(cid)
            else:
                self._added.setdefault(cid, row)
        self._removed |= removed

    async def heartbeat(self) -> set[str]:
        """Refresh this process's rows; return the connection ids an operator asked to close."""
        self._last_heartbeat = time.monotonic()
        changed = {}
        for connection in self._local_connections():
            written = self._written.get(connection.connection_id)
            if written is not None and written != connection.last_activity:
                changed[connection.connection_id] = connection.last_activity
        requested = await database_sync_to_async(presence.heartbeat)(self.process, changed, len(self._written))
        self._written.update(changed)
        if requested is None:
            self._rewrite_all()
            return set()
        return requested

    def _rewrite_all(self) -> None:
        """Queue every local connection again (its row was deleted as stale while we were cut off)."""
        logger.warning("presence: rows of this instance had expired; writing them again")
        self._written.clear()
        for connection in self._local_connections():
            self.connected(connection)

    async def close(self) -> None:
        """Delete every row of this process (clean shutdown); later connects are not recorded."""
        self.closed = True
        self._added.clear()
        # Its sockets are about to close with 1001: their disconnects go with the rows, in one transaction.
        events, self._events = self._events, []
        events += [
            connection_events.closed(c, self.instance, code=1001, reason="shutdown") for c in self._local_connections()
        ]
        await database_sync_to_async(stored_events.close_process)(self.process, events)
        self._written.clear()
        self._removed.clear()
