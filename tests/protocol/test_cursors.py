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


@pytest.mark.parametrize(
    "value",
    [
        None,
        5,
        True,
        "",
        "abc",
        "z" * 24,
        "0" * 23,
        {"a": 1},
        "0x" + "0" * 10 + "0" * 12,  # int(..., 16) takes a 0x prefix
        "0" * 11 + "_" + "0" * 12,  # and underscores between digits
        " " + "0" * 11 + "0" * 12,  # and surrounding spaces
        "+" + "0" * 11 + "0" * 12,  # and a sign
        "0" * 11 + "1" + "0" * 11 + "\n",
        "A" * 24,  # encode writes lower case only
        "f" * 25,  # a number wider than encode ever writes
        "٠" * 24,  # Unicode digits
    ],
)
def test_anything_else_is_refused(value):
    """A value the server did not issue raises InvalidCursor."""
    with pytest.raises(InvalidCursor):
        Cursor.decode(value)


def test_covers_is_per_component():
    """A cursor covers another only when it is at or past it in both sequences."""
    assert Cursor(2, 2).covers(Cursor(2, 1))
    assert not Cursor(3, 1).covers(Cursor(2, 2))


def test_every_encoded_cursor_decodes_and_nothing_else_of_its_shape():
    """The widest cursor the server can encode is accepted; the same string in upper case is not."""
    widest = Cursor(16**12 - 1, 16**12 - 1)
    assert Cursor.decode(widest.encode()) == widest
    with pytest.raises(InvalidCursor):
        Cursor.decode(widest.encode().upper())
