"""The AMQP ingress (PROTOCOL 5.3): status events published to RabbitMQ, stored like REST's POSTs.

Every serving instance with a broker runs one `IngressConsumer` beside its
hub (NOTIFY_INGRESS_CONSUMER=0 turns it off), over a connection of its own
(the channel layer is at most once). They compete on one durable quorum
queue, `<exchange>.events`, bound to the topic exchange with `#`. The
consumer takes what the prefetch window holds as one batch, hands it to
the store (`api/ingress.py`, registered at start-up with `set_store`), which
returns only after its commit; then every refusal is republished to the
fanout exchange `<exchange>.rejected`, confirmed, and the whole batch is
acked with one `multiple` ack; batches are stored one at a time, in order.
Anything that fails before that ack leaves the batch unacked: the broker redelivers it, and `message_id` makes the
second storing a no-op. A lost broker connection is retried with backoff.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import unquote, urlparse

import carehare
import pamqp.body
import pamqp.commands
import pamqp.header
from channels.db import database_sync_to_async

from notifications import conf
from notifications.ops import metrics
from notifications.realtime.amqp_client import AmqpClient

logger = logging.getLogger(__name__)

CONFIRM_TIMEOUT_SECS = 10.0
BATCH_LINGER_SECS = 0.02  # a batch waits this long to fill: fewer, larger transactions under load
STATUS_HEADER, DETAIL_HEADER, USER_HEADER = "x-notify-status", "x-notify-detail", "x-notify-user-id"
MAX_DETAIL_CHARS = 1000


@dataclass(frozen=True)
class IngressMessage:
    """One message as the store sees it: the raw body and the two properties that matter."""

    body: bytes
    message_id: str | None
    user_id: str | None


@dataclass(frozen=True)
class IngressRefusal:
    """Why a message was not stored: the status REST would answer and its `detail`."""

    status: int
    detail: str


Store = Callable[[list[IngressMessage]], list[IngressRefusal | None]]

_store: Store | None = None


def set_store(store: Store | None) -> None:
    """Register what stores a batch (called once at start-up by the layer that validates bodies)."""
    global _store
    _store = store


def get_store() -> Store:
    if _store is None:
        raise RuntimeError("No ingress store is registered; the app's ready() registers api.ingress.store_messages.")
    return _store


def queue_name(exchange: str) -> str:
    """Return the service's quorum queue on the ingress exchange."""
    return f"{exchange}.events"


def rejected_exchange(exchange: str) -> str:
    """Return the fanout exchange refused messages are republished to."""
    return f"{exchange}.rejected"


async def declare(connection: carehare.Connection, exchange: str) -> None:
    """Declare the topic exchange, the rejected fanout exchange and the quorum queue bound with `#`."""
    await connection.exchange_declare(exchange, exchange_type="topic", durable=True)
    await connection.exchange_declare(rejected_exchange(exchange), exchange_type="fanout", durable=True)
    queue = queue_name(exchange)
    await connection.queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum"})
    await connection.queue_bind(queue, exchange, routing_key="#")


def start_consumer(tasks, loops: list) -> "IngressConsumer | None":
    """Run this instance's consumer in the hub's task set when there is a broker and it is not turned off."""
    urls = conf.amqp_urls()
    if not urls or not conf.ingress_consumer_enabled():
        return None
    consumer = IngressConsumer(urls)
    loops.append(tasks.spawn(consumer.run_forever(), "ingress"))
    return consumer


class IngressConsumer(AmqpClient):
    """Consume the ingress queue in batches; store, republish refusals, then ack; reconnect after a loss."""

    name = "ingress"
    activity = "consuming"

    def __init__(self, urls: list[str] | str):
        super().__init__(urls)
        self.username = unquote(urlparse(self.nodes.current).username or "guest")
        self.exchange = conf.ingress_exchange()
        self.consumer = None  # carehare's ConsumeChannel while connected
        self.is_connected = False
        self.acked = 0
        self.batches = 0
        # Its own thread: a batch's transaction never holds up the thread the HTTP requests share.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingress")
        self.store_secs = 0.0  # time spent storing batches: with `batches`, what a batch costs

    def progress(self) -> int:
        return self.acked

    def status(self) -> dict:
        """Return what runtime status reports about the consumer."""
        return {
            "connected": self.is_connected,
            "node": self.nodes.address,
            "acked": self.acked,
            "batches": self.batches,
            "store_secs": round(self.store_secs, 3),
            "error": self.last_error,
        }

    async def declare(self, connection: carehare.Connection) -> None:
        await declare(connection, self.exchange)

    def connected(self) -> None:
        self.consumer = self.connection.acking_consumer(
            queue_name(self.exchange), prefetch_count=conf.ingress_prefetch()
        )
        self.is_connected = True
        logger.info("ingress: consuming %s on %s", queue_name(self.exchange), self.nodes.address)

    async def _disconnect(self) -> None:
        self.is_connected = False
        await super()._disconnect()

    async def work(self) -> None:
        await self._consume_forever()

    async def _consume_forever(self) -> None:
        while True:
            batch = await self._next_batch()
            await self._handle(batch)

    async def _next_batch(self) -> list:
        """Wait for a delivery, then take what arrives within BATCH_LINGER_SECS, up to NOTIFY_INGRESS_BATCH."""
        deliveries = self.consumer._queue  # carehare's buffer: the deliveries with their properties
        batch = [await self._first_delivery(deliveries)]
        limit, deadline = conf.ingress_batch(), time.monotonic() + BATCH_LINGER_SECS
        while len(batch) < limit:
            if not deliveries.empty():
                batch.append(deliveries.get_nowait())
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(deliveries.get(), remaining))
            except TimeoutError:
                break
        return batch

    async def _first_delivery(self, deliveries: asyncio.Queue):
        waiting = asyncio.ensure_future(deliveries.get())
        done, _ = await asyncio.wait({waiting, self.consumer.closed}, return_when=asyncio.FIRST_COMPLETED)
        if waiting not in done:
            waiting.cancel()
            self.consumer.closed.result()  # raises the connection's error, if any
            raise ConnectionError("the broker closed the ingress channel")
        return waiting.result()

    async def _handle(self, batch: list) -> None:
        metrics.INGRESS_CONSUMED.inc(len(batch))
        started = time.monotonic()
        store = database_sync_to_async(get_store(), thread_sensitive=False, executor=self.executor)
        outcomes = await store([as_message(delivery) for delivery in batch])
        self.store_secs += time.monotonic() - started
        self.batches += 1
        refused = [(delivery, refusal) for delivery, refusal in zip(batch, outcomes, strict=True) if refusal]
        if refused:
            await self._reject(refused)
        self._ack_through(batch[-1].deliver.delivery_tag)
        self.acked += len(batch)
        metrics.INGRESS_STORED.inc(len(batch) - len(refused))

    async def _reject(self, refused: list) -> None:
        """Republish each refused message to the rejected exchange and wait for the broker's confirms."""
        confirms = [self._republish(delivery, refusal) for delivery, refusal in refused]
        await asyncio.wait_for(asyncio.gather(*confirms), CONFIRM_TIMEOUT_SECS)
        for delivery, refusal in refused:
            metrics.INGRESS_REJECTED.labels(status=str(refusal.status)).inc()
            logger.info(
                "ingress: refused message %s with %s: %s",
                (delivery.header.properties.message_id or "")[:200],
                refusal.status,
                refusal.detail[:200],
            )

    def _republish(self, delivery, refusal: IngressRefusal) -> asyncio.Future:
        channel = self.connection._protocol._get_exchange_channel(rejected_exchange(self.exchange))
        body = b"".join(frame.value for frame in delivery.body)
        properties = rejected_properties(delivery.header.properties, refusal, self.username)
        channel._frame_writer.send_frames(
            [
                pamqp.commands.Basic.Publish(exchange=channel.exchange_name, routing_key=delivery.deliver.routing_key),
                pamqp.header.ContentHeader(body_size=len(body), properties=properties),
                *_body_frames(body, channel._frame_max),
            ]
        )
        done = asyncio.get_running_loop().create_future()
        channel._delivering[channel._next_delivery_tag] = done
        channel._next_delivery_tag += 1
        return done

    def _ack_through(self, delivery_tag: int) -> None:
        """Ack every delivery of this channel up to `delivery_tag` (the batch) in one frame."""
        self.consumer._frame_writer.send_frame(pamqp.commands.Basic.Ack(delivery_tag=delivery_tag, multiple=True))


def as_message(delivery) -> IngressMessage:
    properties = delivery.header.properties
    body = b"".join(frame.value for frame in delivery.body)
    return IngressMessage(body, properties.message_id, properties.user_id)


def rejected_properties(original, refusal: IngressRefusal, username: str) -> pamqp.commands.Basic.Properties:
    """Return the original properties plus the refusal headers.

    RabbitMQ refuses a `user_id` other than the publishing connection's user,
    so one naming another user travels as the `x-notify-user-id` header.
    """
    kept = {name: getattr(original, name) for name in original.attributes()}
    headers = dict(kept.get("headers") or {})
    headers[STATUS_HEADER] = refusal.status
    headers[DETAIL_HEADER] = refusal.detail[:MAX_DETAIL_CHARS]
    if kept.get("user_id") not in (None, username):
        headers[USER_HEADER] = kept.pop("user_id")
    kept["headers"] = headers
    return pamqp.commands.Basic.Properties(**kept)


def _body_frames(body: bytes, frame_max: int) -> list:
    return [pamqp.body.ContentBody(value=body[i : i + frame_max]) for i in range(0, len(body), frame_max)]
