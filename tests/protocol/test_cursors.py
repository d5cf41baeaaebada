"""Cursors: opaque on the wire, ordered along a connection's deliveries."""

import pytest

from notifications.protocol.cursors import Cursor, InvalidCursor


def test_a_cursor_survives_the_wire():
    """What the server encodes, it decodes to the same position."""
    cursor = Cursor(announcements=7, own=123456)
    assert Cursor.decode(cursor.encode()) == cursor


def test_string_order_follows_delivery_order():
    """Each delivery moves one component forward, and the encoded strings sort the same way."""
    path = [Cursor(0, 0), Cursor(0, 1), Cursor(1, 1), Cursor(1, 9), Cursor(1, 10), Cursor(16, 10)]
    encoded = [c.encode() for c in path]
    assert encoded == sorted(encoded)


@pytest.mark.parametrize("value", [None, 5, "", "abc", "z" * 24, "0" * 23, {"a": 1}])
def test_anything_else_is_refused(value):
    """A value the server did not issue raises InvalidCursor."""
    with pytest.raises(InvalidCursor):
        Cursor.decode(value)


def test_covers_is_per_component():
    """A cursor covers another only when it is at or past it in both sequences."""
    assert Cursor(2, 2).covers(Cursor(2, 1))
    assert not Cursor(3, 1).covers(Cursor(2, 2))
