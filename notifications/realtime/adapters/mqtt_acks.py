"""Where one MQTT connection stands in its stream: in-flight QoS 1 messages and the acknowledged position.

`acked` is the position before the oldest unacknowledged QoS 1 message (or
the last event passed when none is in flight): everything before it was
PUBACKed, sent at QoS 0, or matched no subscription. A persistent session
stores it with `sent`; the next connection replays after `acked` and sets
DUP on what it had sent before (up to the stored `sent`). While a connection
lives, the stored `sent` is SENT_UNKNOWN; the last flush, at its end, stores
the real one.
"""

from collections import OrderedDict

from notifications.protocol.cursors import Cursor

MAX_IN_FLIGHT = 1000
# The stored `sent` while a connection lives: if its instance dies, what it sent is unknown, so the next
# connection sets DUP on every replayed event up to the stream's head at its CONNECT.
SENT_UNKNOWN = Cursor(2**48 - 1, 2**48 - 1)
_MAX_PACKET_ID = 65535


class InFlightFull(Exception):
    """The client left MAX_IN_FLIGHT QoS 1 messages unacknowledged."""


class AckTracker:
    def __init__(self, start: Cursor, sent_before: Cursor, head: Cursor):
        self.acked = self.last = start
        self.sent_before = head if sent_before == SENT_UNKNOWN else sent_before
        self._in_flight: OrderedDict[int, Cursor] = OrderedDict()  # packet id -> the position before it
        self._next_id = 1
        self.dirty = False

    def passed(self, cursor: Cursor) -> None:
        """Record an event sent at QoS 0, or one that matched no subscription."""
        self.last = cursor
        if not self._in_flight:
            self.acked = cursor
        self.dirty = True

    def sent_at_qos1(self, cursor: Cursor) -> tuple[int, bool]:
        """Record a QoS 1 message about to be sent; return its packet id and whether it goes with DUP set."""
        if len(self._in_flight) >= MAX_IN_FLIGHT:
            raise InFlightFull()
        packet_id = self._allocate()
        self._in_flight[packet_id] = self.last
        self.last = cursor
        self.dirty = True
        return packet_id, self.sent_before.covers(cursor)

    def acknowledged(self, packet_id: int) -> None:
        """Record a PUBACK; one for a packet id not in flight changes nothing."""
        if self._in_flight.pop(packet_id, None) is None:
            return
        self.acked = next(iter(self._in_flight.values())) if self._in_flight else self.last
        self.dirty = True

    def restart(self, cursor: Cursor) -> None:
        """Start over at `cursor`, the stream's head (the stored position was past the history)."""
        self._in_flight.clear()
        self.acked = self.last = cursor
        self.dirty = True

    def take(self, final: bool) -> tuple[Cursor, Cursor]:
        """Return (acked, sent) to store and mark them stored; `sent` is SENT_UNKNOWN until the `final` flush."""
        self.dirty = False
        if not final:
            return self.acked, SENT_UNKNOWN
        sent = Cursor(
            max(self.last.announcements, self.sent_before.announcements), max(self.last.own, self.sent_before.own)
        )
        return self.acked, sent

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def _allocate(self) -> int:
        while self._next_id in self._in_flight:
            self._next_id = self._next_id % _MAX_PACKET_ID + 1
        packet_id = self._next_id
        self._next_id = packet_id % _MAX_PACKET_ID + 1
        return packet_id
