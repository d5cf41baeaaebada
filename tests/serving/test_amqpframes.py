"""carehare's frame handlers dispatched directly (notifications/serving/amqpframes.py)."""

import asyncio
import functools

import pamqp.commands
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
