"""Debug-log arguments of daphne's WebSocket layer (autobahn), formatted only when a line is written.

autobahn builds the arguments of its debug log calls before the call, even
with debug logging off: `hltype`/`hlval` on every frame sent and received,
and `pformat` of the whole configuration on every connection. In profiles
that was about 4 % of an instance's CPU while connecting 10,000 sockets and
2 % while sending frames. Here those helpers, as autobahn's modules see
them, return objects that format themselves when (if ever) a log line is
written, with the same text.
"""

import importlib
import pprint

# The autobahn modules whose hot paths call the helpers, and the helpers they import.
_MODULES = ("autobahn.websocket.protocol", "autobahn.twisted.websocket")
_HELPERS = ("hltype", "hlval", "pformat")


class _Deferred:
    """A helper's result, computed when it is turned into text."""

    __slots__ = ("_helper", "_args")

    def __init__(self, helper, args):
        self._helper, self._args = helper, args

    def __str__(self) -> str:
        return str(self._helper(*self._args))

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    __repr__ = __str__


def _deferring(helper):
    def deferred(*args):
        return _Deferred(helper, args)

    deferred.defers = helper
    return deferred


def _timings_text(timings) -> str:
    return pprint.pformat(timings._timings)


def defer_autobahn_debug_formatting() -> None:
    """Make autobahn's debug-log helpers lazy (idempotent; a no-op without autobahn)."""
    for name in _MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            return
        for helper_name in _HELPERS:
            helper = getattr(module, helper_name, None)
            if helper is not None and not hasattr(helper, "defers"):
                setattr(module, helper_name, _deferring(helper))
    # The one call that is not a log argument: `Timings.__str__` returns pformat's text.
    importlib.import_module(_MODULES[0]).Timings.__str__ = _timings_text
