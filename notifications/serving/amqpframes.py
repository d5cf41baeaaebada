"""AMQP frames received cheaper: carehare's handlers found by a cached type lookup, Basic.Deliver decoded directly.

carehare (under channels-rabbitmq and our own AMQP clients) hands every
frame it receives to `functools.singledispatchmethod` handlers, twice per
frame (the connection's, then the channel's). On Python 3.11 each access to
such a method builds a new function with `update_wrapper`; with three
frames per ingress message that was about 5 % of an instance's CPU in W5
profiles. Each of those methods becomes a plain function asking the same
dispatcher for the handler of the frame's type, as singledispatchmethod
does, less the wrapper.

pamqp decodes a method frame field by field through its generic type
table; for Basic.Deliver, the first frame of every message consumed, that
was another 6 % of the instance in W5 profiles. Its five fields are read
here with one struct call and three slices into the same frame object.
"""

import functools
import importlib
import struct

import pamqp.commands
import pamqp.exceptions
import pamqp.frame

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


_DELIVER = pamqp.commands.Basic.Deliver
_DELIVER_INDEX = struct.pack(">I", _DELIVER.index)
_TAG_AND_BITS = struct.Struct(">qB")  # the tag signed, as pamqp decodes a longlong


def decode_deliveries_directly() -> None:
    """Decode Basic.Deliver method frames without pamqp's generic field loop (idempotent)."""
    generic = pamqp.frame._unmarshal_method_frame
    if getattr(generic, "decodes_deliveries", False):
        return

    def unmarshal_method_frame(frame_data: bytes):
        if frame_data[:4] != _DELIVER_INDEX:
            return generic(frame_data)
        try:
            return _deliver(frame_data)
        except (IndexError, UnicodeDecodeError, struct.error) as error:
            raise pamqp.exceptions.UnmarshalingException(_DELIVER, error) from None

    unmarshal_method_frame.decodes_deliveries = True
    pamqp.frame._unmarshal_method_frame = unmarshal_method_frame


def _deliver(data: bytes) -> pamqp.commands.Basic.Deliver:
    """Return the Basic.Deliver of a method frame's payload (its 4-byte index first), as pamqp decodes it."""
    frame = _DELIVER.__new__(_DELIVER)
    frame.consumer_tag, offset = _short_str(data, 4)
    frame.delivery_tag, bits = _TAG_AND_BITS.unpack_from(data, offset)
    frame.redelivered = bool(bits & 1)
    frame.exchange, offset = _short_str(data, offset + 9)
    frame.routing_key, _ = _short_str(data, offset)
    return frame


def _short_str(data: bytes, offset: int) -> tuple[str, int]:
    end = offset + 1 + data[offset]
    if end > len(data):
        raise IndexError("short string past the frame's end")
    return data[offset + 1 : end].decode("utf-8"), end
