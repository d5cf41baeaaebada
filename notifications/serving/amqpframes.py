"""carehare's frame handlers found by a cached type lookup, not through a new bound function per frame.

carehare (under channels-rabbitmq and our own AMQP clients) hands every
frame it receives to `functools.singledispatchmethod` handlers, twice per
frame (the connection's, then the channel's). On Python 3.11 each access to
such a method builds a new function with `update_wrapper`; with three
frames per ingress message that was about 5 % of an instance's CPU in W5
profiles. Each of those methods becomes a plain function asking the same
dispatcher for the handler of the frame's type, as singledispatchmethod
does, less the wrapper.
"""

import functools
import importlib

# (module, class, method): every singledispatchmethod carehare calls per frame.
_METHODS = (
    ("carehare._protocol", "Protocol", "_accept_frame_after_handshake"),
    ("carehare._protocol", "Protocol", "_accept_handshake_frame"),
    ("carehare._consume_channel", "ConsumeChannel", "accept_frame"),
    ("carehare._exchange_channel", "ExchangeChannel", "accept_frame"),
    ("carehare._rpc_channel", "RpcChannel", "accept_frame"),
)


def dispatch_frames_directly() -> None:
    """Replace carehare's per-frame singledispatchmethods by direct dispatch (idempotent)."""
    for module_name, class_name, name in _METHODS:
        cls = getattr(importlib.import_module(module_name), class_name)
        method = cls.__dict__[name]
        if isinstance(method, functools.singledispatchmethod):
            setattr(cls, name, _direct(method))


def _direct(method: functools.singledispatchmethod):
    dispatch = method.dispatcher.dispatch  # caches the handler of each type it has seen

    def accept(self, frame, *args):
        return dispatch(frame.__class__)(self, frame, *args)

    accept.dispatches = method
    return accept
