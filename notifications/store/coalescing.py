"""Catch-up by state: a resume that sends each request's latest event instead of its whole history.

A dashboard that reconnects after a week needs the state of each request, not
the 50,000 progress steps that led there. A coalesced resume sends, past the
client's cursor, every announcement, every event that belongs to no request,
and of each request only its newest event. Status moves are forward-only and a
terminal status is final, so a request's newest event is its terminal one once
it has finished: a terminal event is never coalesced away.

The set is fixed when the resume starts (`through`, the stream heads then);
anything committed later is live delivery's, as for a plain resume.
"""

from dataclasses import dataclass

from django.db.models import Max, Q

from notifications.models import Event
from notifications.protocol.cursors import Cursor
from notifications.store import streams


@dataclass(frozen=True)
class CoalescedResume:
    """What a coalesced resume from a cursor covers: a reset reason, or the range and how much of it is skipped."""

    reset_reason: str | None
    through: Cursor
    coalesced: int


def read_coalesced_resume(user_id: int, cursor: Cursor) -> CoalescedResume:
    """Return the range a coalesced resume from `cursor` replays, and how many of its events it skips."""
    heads = streams.stream_heads(user_id)
    if not heads.head.covers(cursor):
        return CoalescedResume(streams.UNKNOWN_CURSOR, cursor, 0)
    if heads.is_pruned_past(cursor):
        return CoalescedResume(streams.HISTORY_EXPIRED, cursor, 0)
    through = heads.head
    if cursor.covers(through):
        return CoalescedResume(None, through, 0)
    own = _own_range(user_id, cursor, through)
    skipped = own.count() - _kept_own(user_id, cursor, through).count()
    return CoalescedResume(None, through, skipped)


def coalesced_page(user_id: int, cursor: Cursor, through: Cursor, after_position: int, limit: int) -> streams.Replay:
    """Return the next page, in stored order past `after_position`, of what a coalesced resume sends."""
    announcements = Q(user__isnull=True, seq__gt=cursor.announcements, seq__lte=through.announcements)
    kept = Q(position__in=_kept_own(user_id, cursor, through).values("position"))
    query = Event.objects.filter(announcements | kept, position__gt=after_position).order_by("position")
    events = list(query[: limit + 1])
    return streams.Replay(events[:limit], truncated=len(events) > limit)


def _own_range(user_id: int, cursor: Cursor, through: Cursor):
    return Event.objects.filter(user_id=user_id, seq__gt=cursor.own, seq__lte=through.own)


def _kept_own(user_id: int, cursor: Cursor, through: Cursor):
    """Select the user's events in the range that a coalesced resume sends: each request's newest, and the rest."""
    in_range = _own_range(user_id, cursor, through)
    per_request = in_range.filter(request__isnull=False).values("request_id")
    newest_seqs = per_request.annotate(newest=Max("seq")).values("newest")
    return in_range.filter(Q(request__isnull=True) | Q(seq__in=newest_seqs))
