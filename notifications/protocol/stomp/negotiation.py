"""What a STOMP connection agrees on: the subprotocol, the version, and the heart-beat periods."""

from collections.abc import Iterable

from notifications.protocol.stomp.errors import BadHeartBeat, UnsupportedVersion
from notifications.protocol.stomp.headers import VERSIONS

SUBPROTOCOLS = {"v12.stomp": "1.2", "v11.stomp": "1.1"}
# What the server's CONNECTED states as its own wish (cx, cy in the spec's terms: sends, wants), in ms.
SERVER_HEART_BEAT_MS = (25000, 25000)
# Nine digits are over eleven days: enough for any period, little enough to stay an int of no cost.
_MAX_HEART_BEAT_DIGITS = 9


def select_subprotocol(offered: Iterable[str]) -> str | None:
    """Return the STOMP subprotocol to select from the client's offer (the highest supported), or None."""
    offered = set(offered)
    return next((name for name in SUBPROTOCOLS if name in offered), None)


def negotiate_version(accept_version: str | None, subprotocol: str | None = None) -> str:
    """Return the version to speak: the highest of 1.2 and 1.1 the client accepts, or raise UnsupportedVersion.

    A CONNECT without `accept-version` is a 1.0 client. A selected
    subprotocol caps the version: `v11.stomp` speaks 1.1 whatever CONNECT says.
    """
    if accept_version is None:
        raise UnsupportedVersion("no accept-version: STOMP 1.0 is not supported, only 1.2 and 1.1")
    accepted = {version.strip() for version in accept_version.split(",")}
    ceiling = SUBPROTOCOLS.get(subprotocol or "", VERSIONS[0])
    for version in VERSIONS:
        if version in accepted and version <= ceiling:
            return version
    raise UnsupportedVersion(f"accept-version {accept_version[:40]!r} names no supported version (1.2, 1.1)")


def parse_heart_beat(header: str | None) -> tuple[int, int]:
    """Return the two periods (ms) of a `heart-beat` header; absent means "0,0"; raise BadHeartBeat if bad."""
    if header is None:
        return (0, 0)
    parts = header.split(",")
    if len(parts) != 2:
        raise BadHeartBeat(f"heart-beat must be two periods in ms separated by a comma, not {header[:40]!r}")
    return _period(parts[0], header), _period(parts[1], header)


def _period(text: str, header: str) -> int:
    text = text.strip(" ")
    if not (text.isascii() and text.isdigit()) or len(text) > _MAX_HEART_BEAT_DIGITS:
        raise BadHeartBeat(f"heart-beat periods must be non-negative integers in ms, not {header[:40]!r}")
    return int(text)


def negotiate_heart_beat(client_header: str | None, server: tuple[int, int] = SERVER_HEART_BEAT_MS) -> tuple[int, int]:
    """Return (the server sends every N ms, the server expects from the client every M ms), 0 meaning never.

    STOMP 1.2 "Heart-beating": with the client's `cx,cy` and the server's
    `sx,sy`, the client sends every max(cx, sy) ms unless either is 0, and the
    server every max(sx, cy) ms unless either is 0.
    """
    client_sends, client_wants = parse_heart_beat(client_header)
    server_sends, server_wants = server
    sends = 0 if server_sends == 0 or client_wants == 0 else max(server_sends, client_wants)
    expects = 0 if client_sends == 0 or server_wants == 0 else max(client_sends, server_wants)
    return sends, expects
