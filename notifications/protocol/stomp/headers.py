"""Header lines of STOMP 1.2 and 1.1: splitting, strict UTF-8, and each version's escapes.

CONNECT, STOMP and CONNECTED frames are never escaped (the spec keeps them
readable by 1.0 peers), so a backslash there is an ordinary character.
"""

import re

from notifications.protocol.stomp.errors import BadHeader

VERSIONS = ("1.2", "1.1")
UNESCAPED_COMMANDS = frozenset({"CONNECT", "STOMP", "CONNECTED"})

# 1.1 has no escape for CR: a CR in a 1.1 header is sent as it is (and 1.1 lines end with LF alone).
_ESCAPES = {
    "1.2": {"\\": "\\\\", "\r": "\\r", "\n": "\\n", ":": "\\c"},
    "1.1": {"\\": "\\\\", "\n": "\\n", ":": "\\c"},
}
_TRANSLATIONS = {version: str.maketrans(table) for version, table in _ESCAPES.items()}
_UNESCAPES = {version: {escaped: plain for plain, escaped in table.items()} for version, table in _ESCAPES.items()}
_ESCAPE_SEQUENCE = re.compile(r"\\.?", re.DOTALL)
_SHOWN_CHARS = 40


def is_escaped(command: str) -> bool:
    """Return whether this command's headers use the escapes (all but CONNECT, STOMP and CONNECTED)."""
    return command not in UNESCAPED_COMMANDS


def escape(text: str, version: str) -> str:
    """Return `text` with the octets that the version escapes in headers replaced by their escapes."""
    return text.translate(_TRANSLATIONS[version])


def unescape(text: str, version: str) -> str:
    """Return the text an escaped header stands for; raise BadHeader for an escape the version does not define."""
    if "\\" not in text:
        return text
    table = _UNESCAPES[version]

    def replace(match: re.Match) -> str:
        plain = table.get(match.group())
        if plain is None:
            # STOMP 1.2 "Value Encoding": undefined escape sequences MUST be treated as a fatal protocol error.
            raise BadHeader(f"undefined escape sequence {match.group()!r} in a STOMP {version} header")
        return plain

    return _ESCAPE_SEQUENCE.sub(replace, text)


def parse_line(line: bytes, *, escaped: bool, version: str) -> tuple[str, str]:
    """Return the (name, value) of one header line (without its EOL), decoded and unescaped."""
    colon = line.find(b":")
    if colon < 0:
        raise BadHeader(f"header line without a colon: {shown(line)}")
    if colon == 0:
        raise BadHeader(f"header line with an empty name: {shown(line)}")
    try:
        name, value = line[:colon].decode("utf-8"), line[colon + 1 :].decode("utf-8")
    except UnicodeDecodeError:
        raise BadHeader(f"header is not valid UTF-8: {shown(line)}") from None
    if escaped:
        return unescape(name, version), unescape(value, version)
    return name, value


def shown(raw: bytes) -> str:
    """Return a short printable form of client bytes, for an ERROR message."""
    text = raw[:_SHOWN_CHARS].decode("utf-8", errors="replace")
    return repr(text + ("..." if len(raw) > _SHOWN_CHARS else ""))
