"""JSON that is safe to store and send: the checks every client value passes at the edge.

Python's `json` accepts what no other side can take back: `NaN` and
`Infinity`, numbers that overflow to infinity (`1e400`), strings with lone
surrogates (`"\\ud800"`, which UTF-8 cannot encode), and nesting deep enough to
exhaust the interpreter's stack. A value with any of them, once stored, fails
every later encode (a 500 on each read, a stalled stream), so the REST bodies
and socket frames are checked here before anything else looks at them.
"""

import json
import math
from typing import Any

# Deeper than any body or frame of the protocol needs; well under the interpreter's recursion limit.
MAX_DEPTH = 32


class UnsafeJSON(ValueError):
    """A value refused by `check` or `loads`; `path` names where (`data.items[3]`), `reason` says what."""

    def __init__(self, path: str, reason: str):
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}" if path else reason)


def _non_finite_constant(name: str) -> float:
    # Parsed to a float so that `check` refuses it with its path (`data.k`), not just "somewhere".
    return float(name)


def loads(text: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON text and `check` it; raise UnsafeJSON (a ValueError) for anything unsafe or malformed."""
    try:
        value = json.loads(text, parse_constant=_non_finite_constant)
    except RecursionError:
        raise UnsafeJSON("", f"nested deeper than {max_depth} levels") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, int too long
        raise UnsafeJSON("", f"not valid JSON ({str(exc)[:80]})") from None
    check(value, max_depth=max_depth)
    return value


def check(value: Any, *, max_depth: int = MAX_DEPTH, path: str = "") -> None:
    """Raise UnsafeJSON unless `value` is plain JSON that encodes and decodes the same everywhere."""
    _check(value, max_depth, path)


def _check(value: Any, depth_left: int, path: str) -> None:
    if isinstance(value, str):
        check_string(value, path)
    elif isinstance(value, bool) or value is None or isinstance(value, int):
        return
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise UnsafeJSON(path, "must be a finite number (not NaN, Infinity or out of range)")
    elif isinstance(value, dict):
        _check_container(depth_left, path)
        for key, item in value.items():
            if not isinstance(key, str):
                raise UnsafeJSON(path, "object keys must be strings")
            shown = json.dumps(key[:40])[1:-1]  # printable, even for the key being refused
            child = f"{path}.{shown}" if path else shown
            check_string(key, child)
            _check(item, depth_left - 1, child)
    elif isinstance(value, list | tuple):
        _check_container(depth_left, path)
        for index, item in enumerate(value):
            _check(item, depth_left - 1, f"{path}[{index}]")
    else:
        raise UnsafeJSON(path, f"{type(value).__name__} is not a JSON value")


def _check_container(depth_left: int, path: str) -> None:
    if depth_left <= 0:
        raise UnsafeJSON(path, "nested too deeply")


def check_string(text: str, path: str = "") -> None:
    """Raise UnsafeJSON for a string with NUL or a lone surrogate (which UTF-8 cannot encode)."""
    if "\x00" in text:
        raise UnsafeJSON(path, "must not contain NUL characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UnsafeJSON(path, "must not contain lone surrogates (invalid Unicode)") from None


def encoded_size(value: Any) -> int:
    """Return the size in bytes of a checked value as compact UTF-8 JSON."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def repaired(value: Any, *, max_depth: int = MAX_DEPTH) -> Any:
    """Return a copy of a stored value that `check` accepts: for rows stored before the edge refused poison.

    Lone surrogates and NUL become U+FFFD, non-finite numbers and whatever is
    nested too deeply or is no JSON value become null, keys become strings.
    """
    if isinstance(value, str):
        return _repaired_string(value)
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict | list | tuple) and max_depth <= 0:
        return None
    if isinstance(value, dict):
        return {_repaired_string(str(key)): repaired(item, max_depth=max_depth - 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [repaired(item, max_depth=max_depth - 1) for item in value]
    return None


def _repaired_string(text: str) -> str:
    text = text.replace("\x00", "\ufffd")
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
