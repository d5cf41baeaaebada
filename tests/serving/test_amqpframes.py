"""carehare's frame handlers dispatched directly (notifications/serving/amqpframes.py)."""

import asyncio
import functools

import pamqp.commands
import pamqp.exceptions
import pamqp.frame
import pytest
from carehare._consume_channel import ConsumeChannel
from carehare._exchange_channel import ExchangeChannel
from carehare._protocol import Protocol
from carehare._rpc_channel import RpcChannel

from notifications.serving import amqpframes


@pytest.fixture(autouse=True)
def installed():
    amqpframes.dispatch_frames_directly()


def test_every_per_frame_handler_is_a_plain_function_over_the_same_handlers():
    """Each method is replaced once; its handlers are carehare's own, one per registered frame type."""
    amqpframes.dispatch_frames_directly()  # a second install changes nothing
    for cls, name in [
        (Protocol, "_accept_frame_after_handshake"),
        (Protocol, "_accept_handshake_frame"),
        (ConsumeChannel, "accept_frame"),
        (ExchangeChannel, "accept_frame"),
        (RpcChannel, "accept_frame"),
    ]:
        method = cls.__dict__[name]
        assert not isinstance(method, functools.singledispatchmethod)
        assert isinstance(method.dispatches, functools.singledispatchmethod)
        assert len(method.dispatches.dispatcher.registry) > 1


async def test_a_publisher_confirm_still_settles_its_publish():
    """A Basic.Ack frame for tags up to 2 (multiple) resolves those publishes, not the third."""
    channel = ExchangeChannel.__new__(ExchangeChannel)
    loop = asyncio.get_running_loop()
    channel._delivering = {tag: loop.create_future() for tag in (1, 2, 3)}
    first, second, third = channel._delivering.values()

    channel.accept_frame(pamqp.commands.Basic.Ack(delivery_tag=2, multiple=True))

    assert first.done() and second.done() and not third.done()
    with pytest.raises(NotImplementedError):
        channel.accept_frame(pamqp.commands.Basic.Qos())  # what carehare's fallback says of an unexpected frame


@pytest.mark.parametrize(
    "deliver",
    [
        pamqp.commands.Basic.Deliver("carehare", 1, False, "notify.ingress", "status"),
        pamqp.commands.Basic.Deliver("ctag-é", 2**63 - 5, True, "", "routing.ключ.#"),
        pamqp.commands.Basic.Deliver("", 7, True, "x" * 127, ""),
    ],
)
def test_a_delivery_decodes_as_pamqp_decodes_it(deliver):
    """Every field of Basic.Deliver (unicode, a 64-bit tag, both redelivered values, empty strings) comes back."""
    amqpframes.decode_deliveries_directly()
    frame = pamqp.frame.marshal(deliver, 3)
    generic = pamqp.commands.Basic.Deliver()
    generic.unmarshal(frame[11:-1])  # past the frame header and the method index, before the frame end

    consumed, channel, decoded = pamqp.frame.unmarshal(frame)

    assert (consumed, channel) == (len(frame), 3) and type(decoded) is pamqp.commands.Basic.Deliver
    fields = ("consumer_tag", "delivery_tag", "redelivered", "exchange", "routing_key")
    assert [getattr(decoded, f) for f in fields] == [getattr(generic, f) for f in fields]
    assert [getattr(decoded, f) for f in fields] == [getattr(deliver, f) for f in fields]


def test_a_truncated_delivery_is_an_unmarshaling_error_and_other_methods_decode_as_before():
    """A cut Basic.Deliver raises what pamqp raises for a bad frame (carehare then closes); Basic.Ack is untouched."""
    amqpframes.decode_deliveries_directly()
    payload = pamqp.frame.marshal(pamqp.commands.Basic.Deliver("tag", 1, False, "ex", "rk"), 1)[7:-1]
    with pytest.raises(pamqp.exceptions.UnmarshalingException):
        pamqp.frame._unmarshal_method_frame(payload[:-3])
    ack = pamqp.frame.unmarshal(pamqp.frame.marshal(pamqp.commands.Basic.Ack(9, True), 1))[2]
    assert (ack.delivery_tag, ack.multiple) == (9, True)
