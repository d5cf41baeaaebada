"""Each peer's publisher, of the peer's own kind; every message is `{"id", "stream", "seq", "t"}`.

The publisher numbers each stream (`broadcast`, `user.N`) from 0, so every
socket can check that its streams came in order, none lost, none twice, as
cursors let it check ours; `t` is the send time the latencies start from.
"""

import asyncio
import json
import time
from collections import defaultdict

import aio_pika
import socketio
from websockets.asyncio.client import connect

BROADCAST = "broadcast"
EVENT = "n"


class PeerPublisher:
    """Send one message to a stream; subclasses say how their peer takes it."""

    def __init__(self) -> None:
        self.next_seq: dict[str, int] = defaultdict(int)

    def message(self, stream: str) -> dict:
        """Return the stream's next message, stamped with the send time."""
        seq = self.next_seq[stream]
        self.next_seq[stream] = seq + 1
        return {"id": f"{stream}:{seq}", "stream": stream, "seq": seq, "t": time.time()}

    async def open(self) -> "PeerPublisher":
        return self

    async def send(self, stream: str) -> None:
        raise NotImplementedError("a peer's publisher must say how one message reaches the stream's sockets")

    async def close(self) -> None:
        """Return once everything sent has left this process."""


class BarePublisher(PeerPublisher):
    """The bare server's publisher: one WebSocket to `/publish`, `STREAM JSON` a message."""

    def __init__(self, ws_url: str):
        super().__init__()
        self.url = f"{ws_url}/publish"

    async def open(self) -> "BarePublisher":
        self.ws = await connect(self.url, compression=None)
        return self

    async def send(self, stream: str) -> None:
        await self.ws.send(f"{stream} {json.dumps(self.message(stream))}")

    async def close(self) -> None:
        await self.ws.close()


class SocketioPublisher(PeerPublisher):
    """An external `AsyncAioPikaManager(write_only=True)`: `emit` to everyone, or to the room `user.N`."""

    def __init__(self, amqp_url: str, exchange: str):
        super().__init__()
        self.manager = socketio.AsyncAioPikaManager(amqp_url, channel=exchange, write_only=True)

    async def send(self, stream: str) -> None:
        room = None if stream == BROADCAST else stream
        await self.manager.emit(EVENT, self.message(stream), namespace="/", room=room)

    async def close(self) -> None:
        if self.manager.publisher_connection is not None:
            await self.manager.publisher_connection.close()


class WebStompPublisher(PeerPublisher):
    """AMQP to `amq.topic` with the stream as routing key: what Web-STOMP's `/topic/STREAM` subscribers get.

    Each publish waits for the broker's confirm (several are in flight at
    once in W2): without confirms, closing the connection right after the
    last publish lost some of them.
    """

    def __init__(self, amqp_url: str):
        super().__init__()
        self.url = amqp_url

    async def open(self) -> "WebStompPublisher":
        self.connection = await aio_pika.connect(self.url)
        channel = await self.connection.channel(publisher_confirms=True)
        self.exchange = await channel.get_exchange("amq.topic")
        return self

    async def send(self, stream: str) -> None:
        body = json.dumps(self.message(stream)).encode()
        await self.exchange.publish(aio_pika.Message(body, content_type="application/json"), routing_key=stream)

    async def close(self) -> None:
        await self.connection.close()


async def send_at_rate(publisher: PeerPublisher, stream: str, count: int, rate: float) -> float:
    """Send `count` messages to `stream` at `rate` a second, each at its own time; return the start time.

    A send does not wait for the one before to finish (as ours' publishers
    POST each announcement at its time), so a publisher that waits for a
    confirm does not slow the rate down to its round trips. Sends start in
    order, and both AMQP publishers write a channel's frames in call order.
    """
    started = time.time()
    sending = []
    for i in range(count):
        await asyncio.sleep(max(0.0, started + i / rate - time.time()))
        sending.append(asyncio.ensure_future(publisher.send(stream)))
    await asyncio.gather(*sending)
    return started


async def send_as_fast(publisher: PeerPublisher, streams: list[str], in_flight: int = 32) -> float:
    """Send one message to each of `streams`, in that order, with at most `in_flight` unfinished; return the start.

    Each send is started in list order, so a stream's messages leave in order
    as long as the list repeats a stream no closer than `in_flight` apart.
    """
    gate = asyncio.Semaphore(in_flight)
    started = time.time()

    async def one(stream: str) -> None:
        try:
            await publisher.send(stream)
        finally:
            gate.release()

    tasks = []
    for stream in streams:
        await gate.acquire()
        tasks.append(asyncio.ensure_future(one(stream)))
    await asyncio.gather(*tasks)
    return started
