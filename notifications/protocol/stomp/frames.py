"""STOMP frames as values, and where one is turned into bytes (`encode`).

Headers are an ordered tuple of (name, value) pairs, repeats kept: STOMP
says the first occurrence of a repeated header is the one that counts
(`StompFrame.get`), the later ones are history.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from notifications.protocol.stomp.headers import VERSIONS, escape, is_escaped

CLIENT_COMMANDS = frozenset(
    {"CONNECT", "STOMP", "SEND", "SUBSCRIBE", "UNSUBSCRIBE", "ACK", "NACK", "BEGIN", "COMMIT", "ABORT", "DISCONNECT"}
)
SERVER_COMMANDS = frozenset({"CONNECTED", "MESSAGE", "RECEIPT", "ERROR"})
# STOMP 1.2 "Frames and Headers": only these may carry a body.
COMMANDS_WITH_BODY = frozenset({"SEND", "MESSAGE", "ERROR"})
HEARTBEAT_EOL = b"\n"


class UnencodableFrame(ValueError):
    """A frame the server built that STOMP cannot carry (NUL in a header, LF in a CONNECTED header...)."""


@dataclass(frozen=True)
class StompFrame:
    command: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    _index: dict = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self):
        headers = tuple((name, value) for name, value in self.headers)
        object.__setattr__(self, "headers", headers)
        first: dict[str, str] = {}
        for name, value in reversed(headers):
            first[name] = value
        object.__setattr__(self, "_index", first)

    @property
    def is_heartbeat(self) -> bool:
        """Return whether this stands for heart-beat EOLs between frames rather than a frame."""
        return self.command == ""

    def get(self, name: str, default: str | None = None) -> str | None:
        """Return the value of the first `name` header, as STOMP 1.2 says a repeated header is read."""
        return self._index.get(name, default)

    def __contains__(self, name: str) -> bool:
        return name in self._index


# What `StompDecoder.feed` returns for a run of EOLs between frames: the client's heart-beat.
HEARTBEAT = StompFrame("")


def encode(frame: StompFrame, version: str = "1.2") -> bytes:
    """Return the bytes of `frame` in `version`: escaped headers, `content-length` for a body, the NUL."""
    if frame.is_heartbeat:
        return HEARTBEAT_EOL
    if version not in VERSIONS:
        raise ValueError(f"STOMP version must be one of {', '.join(VERSIONS)}, not {version!r}")
    headers = list(frame.headers)
    if frame.body and "content-length" not in frame:
        headers.append(("content-length", str(len(frame.body))))
    _check_content_length(frame, headers)
    lines = [frame.command, *(_header_line(frame.command, name, value, version) for name, value in headers)]
    return "\n".join(lines).encode("utf-8") + b"\n\n" + frame.body + b"\x00"


def _check_content_length(frame: StompFrame, headers: Iterable[tuple[str, str]]) -> None:
    stated = next((value for name, value in headers if name == "content-length"), None)
    if stated is not None and stated != str(len(frame.body)):
        raise UnencodableFrame(f"content-length {stated!r} is not the body's {len(frame.body)} bytes")


def _header_line(command: str, name: str, value: str, version: str) -> str:
    if not name:
        raise UnencodableFrame("a header name must not be empty")
    if "\x00" in name or "\x00" in value:
        raise UnencodableFrame(f"header {name[:40]!r} holds NUL, which no STOMP header can carry")
    if is_escaped(command):
        return f"{escape(name, version)}:{escape(value, version)}"
    if any(char in name for char in ":\r\n") or any(char in value for char in "\r\n"):
        raise UnencodableFrame(f"{command} headers are not escaped, so {name[:40]!r} cannot hold ':', CR or LF")
    return f"{name}:{value}"
