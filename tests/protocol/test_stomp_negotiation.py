"""Agreeing on a STOMP subprotocol, version and heart-beats, as STOMP 1.2 and PROTOCOL section 4.1 say."""

import pytest

from notifications.protocol.stomp.errors import BadHeartBeat, UnsupportedVersion
from notifications.protocol.stomp.negotiation import (
    SERVER_HEART_BEAT_MS,
    negotiate_heart_beat,
    negotiate_version,
    parse_heart_beat,
    select_subprotocol,
)


@pytest.mark.parametrize(
    ("offered", "selected"),
    [
        (["v10.stomp", "v11.stomp", "v12.stomp"], "v12.stomp"),
        (["v11.stomp", "v10.stomp"], "v11.stomp"),
        (["notify.v1.json", "v12.stomp"], "v12.stomp"),
        (["v10.stomp"], None),
        (["notify.v1.json"], None),
        ([], None),
    ],
)
def test_the_highest_supported_stomp_subprotocol_is_selected(offered, selected):
    """v12.stomp over v11.stomp, whatever the order offered; v10.stomp alone (or none) selects nothing."""
    assert select_subprotocol(offered) == selected


@pytest.mark.parametrize(
    ("accept_version", "subprotocol", "version"),
    [
        ("1.0,1.1,1.2", None, "1.2"),
        ("1.2", None, "1.2"),
        ("1.1", None, "1.1"),
        ("1.0, 1.1", None, "1.1"),
        ("1.2,1.1,1.0", "v11.stomp", "1.1"),
        ("1.2,1.1", "v12.stomp", "1.2"),
    ],
)
def test_the_highest_common_version_is_spoken(accept_version, subprotocol, version):
    """The highest of 1.2 and 1.1 in accept-version, capped by a selected subprotocol's version."""
    assert negotiate_version(accept_version, subprotocol) == version


@pytest.mark.parametrize(
    ("accept_version", "subprotocol"),
    [(None, None), ("1.0", None), ("", None), ("2.0,1.3", None), ("1.2", "v11.stomp")],
)
def test_no_common_version_is_refused(accept_version, subprotocol):
    """No accept-version (a 1.0 client), 1.0 only, or nothing in common: UnsupportedVersion."""
    with pytest.raises(UnsupportedVersion):
        negotiate_version(accept_version, subprotocol)


@pytest.mark.parametrize(
    ("client", "periods"),
    [
        ("10000,10000", (25000, 25000)),
        ("30000,40000", (40000, 30000)),
        ("0,0", (0, 0)),
        ("0,10000", (25000, 0)),
        ("10000,0", (0, 25000)),
        (None, (0, 0)),
    ],
)
def test_heart_beats_are_negotiated_as_the_spec_says(client, periods):
    """The server sends every max(sx, cy) unless either is 0, and expects every max(cx, sy) unless either is 0."""
    assert SERVER_HEART_BEAT_MS == (25000, 25000)
    assert negotiate_heart_beat(client) == periods


def test_a_server_that_wants_no_heart_beats_gets_none():
    """With the server's own wish at 0,0 nothing is sent or expected."""
    assert negotiate_heart_beat("10000,10000", server=(0, 0)) == (0, 0)
    assert negotiate_heart_beat("1000,5000", server=(2000, 0)) == (5000, 0)


def test_spaces_around_heart_beat_periods_are_accepted():
    """ "10000, 10000" is read as two periods."""
    assert parse_heart_beat(" 10000, 10000 ") == (10000, 10000)


@pytest.mark.parametrize("header", ["", "10000", "1,2,3", "-1,0", "a,b", "1.5,2", "0x10,0", "1e3,0", "1234567890,0"])
def test_a_bad_heart_beat_is_refused(header):
    """Two non-negative decimal integers (of at most nine digits) or nothing: anything else is BadHeartBeat."""
    with pytest.raises(BadHeartBeat):
        parse_heart_beat(header)
