"""Stream cursors: where a client is in its stream (pure, no I/O).

A user's stream interleaves two gapless sequences: the user's own
`request.status` events and the global announcements. A cursor records the
last position seen in each, so resuming never depends on how the two were
interleaved on one connection. On the wire it is an opaque string of fixed
width whose string order follows the order of delivery on a connection.
"""

import re
from dataclasses import dataclass

_WIDTH = 12
# Exactly what `encode` writes: `int(..., 16)` alone would also take "0x", "_", "+" and spaces.
_ENCODED = re.compile(f"[0-9a-f]{{{2 * _WIDTH}}}")


class InvalidCursor(ValueError):
    """The client sent something that is not a cursor this server issued."""


@dataclass(frozen=True, order=True)
class Cursor:
    announcements: int = 0
    own: int = 0

    def encode(self) -> str:
        return f"{self.announcements:0{_WIDTH}x}{self.own:0{_WIDTH}x}"

    @classmethod
    def decode(cls, value: object) -> "Cursor":
        """Return the cursor a client sent, or raise InvalidCursor."""
        if not isinstance(value, str):
            raise InvalidCursor("cursor must be a string from a welcome, event or replayed frame")
        if _ENCODED.fullmatch(value) is None:
            raise InvalidCursor("cursor is not one this server issued")
        return cls(int(value[:_WIDTH], 16), int(value[_WIDTH:], 16))

    def after_announcement(self, seq: int) -> "Cursor":
        return Cursor(max(self.announcements, seq), self.own)

    def after_own(self, seq: int) -> "Cursor":
        return Cursor(self.announcements, max(self.own, seq))

    def covers(self, other: "Cursor") -> bool:
        """Return whether every event up to `other` is also up to this cursor."""
        return self.announcements >= other.announcements and self.own >= other.own

    def is_behind(self, announcements_head: int, own_head: int) -> bool:
        """Return whether the stream has events past this cursor, given its two heads."""
        return not self.covers(Cursor(announcements_head, own_head))
