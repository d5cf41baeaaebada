"""The adapters' base: `send_fast` writes straight to the socket, or through ASGI, or not at all once closing."""

from types import SimpleNamespace

from notifications.realtime.adapters.guarded import GuardedSocketConsumer
from notifications.serving import rawframes


def consumer_over(protocol) -> tuple[GuardedSocketConsumer, list]:
    consumer = GuardedSocketConsumer()
    consumer.scope = {"type": "websocket", "extensions": {rawframes.EXTENSION: protocol}}
    through_asgi: list = []

    async def send(text_data=None, bytes_data=None, close=False):
        through_asgi.append(text_data or bytes_data)

    consumer.send = send
    return consumer, through_asgi


async def test_a_socket_already_closing_is_sent_nothing_and_nothing_raises():
    """autobahn raises on a send after the close began; the client resumes from its cursor instead."""
    consumer, through_asgi = consumer_over(SimpleNamespace(state=rawframes._CLOSING))
    await consumer.send_fast(text_data='{"type":"event"}')
    await consumer.send_fast(bytes_data=b"\x30\x00")
    assert through_asgi == []


async def test_a_socket_the_fast_path_cannot_take_gets_the_frame_through_asgi():
    """Compressed (or any case rawframes refuses): the frame goes through `send`, unchanged."""
    protocol = SimpleNamespace(state=rawframes._OPEN, _perMessageCompress=object(), transport=None)
    consumer, through_asgi = consumer_over(protocol)
    await consumer.send_fast(text_data="hello")
    await consumer.send_fast(bytes_data=b"\x01")
    assert through_asgi == ["hello", b"\x01"]
