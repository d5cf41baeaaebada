"""Where stored events are fanned out: this process's sends to the channel layer, and the outbox sweep.

Commits hand their messages over through `store.publishing` (this class is
its sink); one task sends them in order, pipelined, and records which stored
events reached the layer. What it could not send stays pending, and the
sweep of any instance sends it later (`store/outbox.py`). Fan-out is the
fast path; correctness never depends on it (`delivery.py` reads gaps from the
database).
"""

import asyncio
import logging
from datetime import timedelta

from channels.db import database_sync_to_async

from notifications.ops import metrics
from notifications.protocol.layer_messages import Outgoing, outgoing_for
from notifications.store import outbox

logger = logging.getLogger(__name__)

OUTBOX_SWEEP_SECS = 1.0
OUTBOX_GRACE = timedelta(seconds=2)
SEND_BATCH = 200
# What a failed send records: the layer did not confirm it in time, or raised (the event may not be sendable).
LAYER_REFUSED = "the channel layer did not take it"


class FanOut:
    """Send what commits hand over, in order; sweep the outbox while the layer is healthy."""

    def __init__(self, link, loop: asyncio.AbstractEventLoop):
        self.link = link
        self.loop = loop
        self._outgoing: asyncio.Queue[Outgoing] = asyncio.Queue()

    # --- from any thread ------------------------------------------------------------

    def submit_threadsafe(self, outgoing: list[Outgoing], events: list = ()) -> None:
        """Queue messages for the layer, in order; `events` are the stored events they carry (for metrics, logs)."""
        if events:
            record_published(events)
        try:
            self.loop.call_soon_threadsafe(self._queue_outgoing, outgoing)
        except RuntimeError:
            pass  # the loop has closed (shutdown); the outbox keeps the events

    def _queue_outgoing(self, outgoing: list[Outgoing]) -> None:
        for item in outgoing:
            self._outgoing.put_nowait(item)

    # --- the loops the hub runs -------------------------------------------------------

    async def send_forever(self) -> None:
        """Send what commits hand over, in order, in batches of what has queued up."""
        while True:
            batch = [await self._outgoing.get()]
            while not self._outgoing.empty() and len(batch) < SEND_BATCH:
                batch.append(self._outgoing.get_nowait())
            if not self.link.healthy:
                # The outbox sweep sends stored events once the layer answers again.
                batch = [item for item in batch if not item.positions]
            try:
                metrics.EVENTS_FANNED_OUT.inc(await self.send_all(batch))
            except Exception:  # e.g. the database went away while recording; the outbox re-sends
                logger.exception("could not fan out a batch; the outbox sweep re-sends what is pending")

    async def send_all(self, batch: list[Outgoing]) -> int:
        """Send each message in order; record the stored events' outcome; return how many events went."""
        sent, failed = await self._send(batch)
        await self._record(sent, failed)
        return len(sent)

    async def sweep_outbox(self) -> int:
        """Send the events no instance has fanned out yet; return how many were sent."""
        events = await database_sync_to_async(outbox.claim_pending)(OUTBOX_GRACE)
        events = await database_sync_to_async(outbox.drop_unsendable)(events)
        sent = await self.send_isolating(events)
        metrics.EVENTS_RESENT.inc(sent)
        if events:
            logger.info("outbox: re-sent %s of %s pending events", sent, len(events))
        return sent

    async def send_isolating(self, events: list) -> int:
        """Send events in as few messages as can be; resend those of a refused message one per message.

        So one event the layer will not take fails alone (and counts its own
        attempts) instead of holding back every event it was batched with.
        """
        sent, failed = await self._send(outgoing_for(events))
        batched = [item for item in failed if len(item.positions) > 1]
        if batched:
            by_position = {event.position: event for event in events}
            alone = [outgoing_for([by_position[p]])[0] for p in sorted(_positions(batched))]
            sent_alone, failed_alone = await self._send(alone)
            sent += sent_alone
            failed = [item for item in failed if len(item.positions) == 1] + failed_alone
        await self._record(sent, failed)
        return len(sent)

    async def _record(self, sent: list[int], failed: list[Outgoing]) -> None:
        """Record in the outbox which events reached the layer and which failed one more attempt."""
        if failed:
            await database_sync_to_async(outbox.record_failed_attempts)(_positions(failed), LAYER_REFUSED)
        if sent:
            await database_sync_to_async(outbox.mark_fanned_out)(sent)

    async def _send(self, batch: list[Outgoing]) -> tuple[list[int], list[Outgoing]]:
        """Send the messages in order; return the positions sent and the messages the layer did not take."""
        outcomes = await self.link.group_send_all([(item.group, item.message) for item in batch])
        sent = [position for item, ok in zip(batch, outcomes, strict=True) if ok for position in item.positions]
        return sent, [item for item, ok in zip(batch, outcomes, strict=True) if not ok and item.positions]


def _positions(items: list[Outgoing]) -> list[int]:
    return [position for item in items for position in item.positions]


def record_published(events: list) -> None:
    """Count the committed events and log them: one line per commit, naming every event."""
    metrics.record_stored(events)
    first = events[0]
    fields = {"event": "event.published", "count": len(events)}
    if len(events) == 1:
        fields.update(event_id=first.id, kind=first.kind, user_id=first.user_id, seq=first.seq)
    else:
        fields["event_ids"] = ",".join(str(event.id) for event in events)
    logger.info("event published" if len(events) == 1 else "events published", extra=fields)
