"""This process's share of the delivery ledger: frames written per event, added to the database every second.

A delivery costs a dictionary update here; the database sees one upsert a
second with one row per event (`store/ledger.py`), whatever the number of
sockets. Counts not yet written when the process dies are lost: the ledger
is a record for people, not a delivery guarantee (the cursor is that).
"""

import asyncio
import logging
import time
from datetime import UTC, datetime

from channels.db import database_sync_to_async

from notifications import conf
from notifications.store import ledger

logger = logging.getLogger(__name__)

FLUSH_SECS = 1.0
ROWS_PER_STATEMENT = 500
# Events kept for a retry while the database refuses the writes; past that, counts are dropped (and logged).
MAX_PENDING_EVENTS = 100_000


class DeliveryRecorder:
    """Aggregate per event: when it first went out, on how many connections, over which protocols."""

    def __init__(self):
        self._pending: dict[tuple[int, int], list] = {}

    def delivered(self, stream: int, seq: int, protocol_bit: int) -> None:
        entry = self._pending.get((stream, seq))
        if entry is None:
            self._pending[(stream, seq)] = [time.time(), 1, protocol_bit]
        else:
            entry[1] += 1
            entry[2] |= protocol_bit

    async def run_forever(self) -> None:
        try:
            while True:
                await asyncio.sleep(FLUSH_SECS)
                await self.flush()
        finally:
            await asyncio.shield(self.flush())

    async def flush(self) -> None:
        """Add what was counted since the last flush; keep it for the next one if the database refuses."""
        pending, self._pending = self._pending, {}
        rows = [
            (stream, seq, datetime.fromtimestamp(first, UTC), count, bits)
            for (stream, seq), (first, count, bits) in pending.items()
        ]
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            try:
                await database_sync_to_async(ledger.add_deliveries)(rows[start : start + ROWS_PER_STATEMENT])
            except Exception as exc:  # the database is down: keep the counts, bounded
                logger.warning("delivery ledger: writing failed (%s); retrying", type(exc).__name__)
                self._keep(rows[start:], exc)
                return

    def _keep(self, rows: list, error: Exception) -> None:
        if len(self._pending) + len(rows) > MAX_PENDING_EVENTS:
            logger.warning("delivery ledger: %d events' counts dropped (%s)", len(rows), type(error).__name__)
            return
        for stream, seq, first, count, bits in rows:
            entry = self._pending.setdefault((stream, seq), [first.timestamp(), 0, 0])
            entry[0] = min(entry[0], first.timestamp())
            entry[1] += count
            entry[2] |= bits


class _Off:
    """The recorder when NOTIFY_DELIVERY_LEDGER is 0."""

    def delivered(self, stream: int, seq: int, protocol_bit: int) -> None:
        pass


_RECORDER = DeliveryRecorder()
_OFF = _Off()


def recorder() -> DeliveryRecorder | _Off:
    """Return this process's recorder (a no-op one when the ledger is turned off)."""
    return _RECORDER if conf.delivery_ledger() else _OFF


def running_recorder() -> DeliveryRecorder:
    return _RECORDER
