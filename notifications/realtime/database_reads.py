"""What a socket's delivery reads from the database: resumes, plain and coalesced, and catch-up.

A base of `OrderedDelivery` (`delivery.py`), kept apart as the part that
awaits the database page by page. It moves the delivery's `position` and
`sent_since`, queues frames in `_pending_frames` and sends them with the
delivery's `_flush`, so the live path and these reads share one record of
what this connection has sent.
"""

from channels.db import database_sync_to_async

from notifications.protocol.cursors import Cursor
from notifications.store import coalescing, streams

REPLAY_PAGE = 500
# How a frame came to be sent: taken from the layer, read from the database because the layer's
# copy was missing (a gap, an outage, a heads check), or read because a resume asked for it.
LIVE, CAUGHT_UP, REPLAYED = "live", "caught_up", "replayed"


class DatabaseReads:
    """Resumes and catch-up for `OrderedDelivery`, which provides the state and sending they use."""

    __slots__ = ()

    def _stored_frame(self, frame: str, stored, replaying: bool) -> tuple:
        facts = stored.facts if self._send_routed is not None else None
        path = REPLAYED if replaying else CAUGHT_UP
        return (frame, self.position, stored.created_at.timestamp(), path, facts, stored.user_id or 0, stored.seq)

    def _encoded(self, stored) -> str | None:
        """Return a stored event's encoded payload, or None (logged, counted) when it cannot be encoded."""
        try:
            return stored.encoded_payload
        except (ValueError, TypeError) as exc:
            self._skip_poison(self.position, exc)
            return None

    async def _serve_resume(self, cursor: Cursor, ref: str | None, coalesce: bool) -> None:
        if coalesce:
            await self._serve_coalesced_resume(cursor, ref)
            return
        resume = await database_sync_to_async(streams.read_resume)(self.user_id, cursor, REPLAY_PAGE)
        if resume.reset_reason is not None:
            await self._transport.send_reset(resume.reset_reason, ref)
            return
        if self.position == self.sent_since:  # nothing sent yet on this connection
            self.position = self.sent_since = cursor
        count = await self._send_from_database(cursor, first_page=resume.replay, replaying=True)
        self.sent_since = Cursor(
            min(self.sent_since.announcements, cursor.announcements), min(self.sent_since.own, cursor.own)
        )
        await self._transport.send_replayed(count, self.position, ref)

    async def _serve_coalesced_resume(self, cursor: Cursor, ref: str | None) -> None:
        resume = await database_sync_to_async(coalescing.read_coalesced_resume)(self.user_id, cursor)
        if resume.reset_reason is not None:
            await self._transport.send_reset(resume.reset_reason, ref)
            return
        if self.position == self.sent_since:  # nothing sent yet on this connection
            self.position = self.sent_since = cursor
        count, after_position = 0, 0
        while True:
            page = await database_sync_to_async(coalescing.coalesced_page)(
                self.user_id, cursor, resume.through, after_position, REPLAY_PAGE
            )
            for stored in page.events:
                if not self._already_sent(stored.user_id is None, stored.seq):
                    frame = self._advance(stored.user_id is None, stored.seq, self._encoded(stored))
                    if frame is not None:
                        self._pending_frames.append(self._stored_frame(frame, stored, True))
                after_position = stored.position
            count += await self._flush()
            if not page.truncated:
                break
        # The skipped events were never sent here: a later plain resume sends them.
        self.position = self.sent_since = resume.through
        await self._transport.send_replayed(count, self.position, ref, coalesced=resume.coalesced)

    async def _send_from_database(
        self, after: Cursor, first_page: streams.Replay | None = None, replaying: bool = False
    ) -> int:
        """Send every stored event past `after` not yet sent here; return how many were sent.

        `first_page`, when given, is what the database holds past `after` (read
        already). `replaying`: a resume asked for them (their lag is not live delivery's).
        """
        count = 0
        replay = first_page
        while True:
            if replay is None:
                replay = await database_sync_to_async(streams.events_after)(self.user_id, after, REPLAY_PAGE)
            for stored in replay.events:
                if not self._already_sent(stored.user_id is None, stored.seq):
                    frame = self._advance(stored.user_id is None, stored.seq, self._encoded(stored))
                    if frame is not None:
                        self._pending_frames.append(self._stored_frame(frame, stored, replaying))
                after = after.after_announcement(stored.seq) if stored.user_id is None else after.after_own(stored.seq)
            count += await self._flush()
            if not replay.truncated:
                return count
            replay = None

    def _already_sent(self, is_announcement: bool, seq: int) -> bool:
        if is_announcement:
            return self.sent_since.announcements < seq <= self.position.announcements
        return self.sent_since.own < seq <= self.position.own
