"""STOMP destinations (PROTOCOL section 4.1) and each subscription's own position over the user's stream.

A connection has one `OrderedDelivery` over the user's whole stream, as the
JSON protocol has. Every event it sends is offered to each subscription,
which keeps it when the event is of its selection and past its own position.
A subscription with a `cursor` first replays its selection from the
database; live events offered meanwhile are held, then sent if the replay
did not already send them. Positions are compared per sequence (the
announcements' and the user's own), so each subscription gets every event
of its selection once, in cursor order.
"""

import uuid
from collections import deque
from dataclasses import dataclass, field

from notifications.protocol.cursors import Cursor, InvalidCursor
from notifications.protocol.event_facts import EventFacts
from notifications.protocol.stomp.errors import BadHeader, StompError
from notifications.protocol.stomp.gateway import REPLIES_DESTINATION

ACK_MODES = ("auto", "client", "client-individual")
MAX_SUBSCRIPTIONS = 32
# Live events held while a subscription replays; past that the replay reads them from the database too.
MAX_HELD_EVENTS = 1000
REQUEST_PREFIX = "/user/queue/requests/"
# The replies to the gateway's requests (stomp_gateway.py), not events: no event is of this kind.
REPLIES_KIND = "gateway.reply"
KINDS_OF = {
    "/user/queue/notifications": None,
    "/user/queue/requests": "request.status",
    "/topic/announcements": "announcement",
}


class Refused(StompError):
    """A well-formed frame this server will not serve (a destination, a SEND): ERROR, then close 1008."""

    code = "refused"
    # 1008: policy violation (RFC 6455 section 7.4.1).
    close_code = 1008


@dataclass(frozen=True)
class Selection:
    """Which events of the user's stream a destination carries."""

    kind: str | None = None  # None: every kind
    request_id: str | None = None  # one request's events only

    def matches(self, facts: EventFacts) -> bool:
        if self.kind is not None and facts.kind != self.kind:
            return False
        return self.request_id is None or facts.request_id == self.request_id


def cursor_of(value: str) -> Cursor:
    """Return the cursor of a SUBSCRIBE's `cursor` header; raise BadHeader for one this server did not issue."""
    try:
        return Cursor.decode(value)
    except InvalidCursor:
        raise BadHeader(f"cursor {value[:40]!r} is not a cursor this server issued") from None


def selection_for(destination: str) -> Selection:
    """Return the selection of a destination; raise Refused for one this server does not have."""
    if destination in KINDS_OF:
        return Selection(KINDS_OF[destination])
    if destination == REPLIES_DESTINATION:
        return Selection(REPLIES_KIND)
    if destination.startswith(REQUEST_PREFIX):
        try:
            request_id = uuid.UUID(destination.removeprefix(REQUEST_PREFIX))
        except ValueError:
            raise Refused(f"no such destination: {destination[:80]!r}") from None
        return Selection("request.status", str(request_id))
    raise Refused(f"no such destination: {destination[:80]!r}")


@dataclass(frozen=True, slots=True)
class Delivered:
    """One event as every subscription sees it: its facts, its section-1 `event` frame (the body), its place."""

    facts: EventFacts
    text: str
    cursor: Cursor

    @property
    def is_announcement(self) -> bool:
        return self.facts.is_announcement

    @property
    def seq(self) -> int:
        return self.cursor.announcements if self.is_announcement else self.cursor.own


@dataclass
class Subscription:
    id: str
    destination: str
    selection: Selection
    ack: str
    # The MESSAGE's start, escaped once (`server_frames.message_prefix`): command, destination, subscription.
    prefix: str
    # Every event of the stream up to here was sent (or was before the subscription's cursor).
    position: Cursor
    replaying: bool = False
    held: deque = field(default_factory=deque)
    overflowed: bool = False

    @property
    def asks_for_acks(self) -> bool:
        return self.ack != "auto"

    def take(self, delivered: Delivered) -> bool:
        """Return whether to send this event here (of the selection, not sent yet); move past it either way."""
        if delivered.is_announcement:
            if delivered.seq <= self.position.announcements:
                return False
            self.position = self.position.after_announcement(delivered.seq)
        else:
            if delivered.seq <= self.position.own:
                return False
            self.position = self.position.after_own(delivered.seq)
        return self.selection.matches(delivered.facts)

    def hold(self, delivered: Delivered) -> None:
        """Keep a live event until the replay is done (forget them past the bound: the replay reads on)."""
        if len(self.held) >= MAX_HELD_EVENTS:
            self.held.clear()
            self.overflowed = True
        else:
            self.held.append(delivered)
