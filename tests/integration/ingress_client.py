"""A stock AMQP client (pika) for the ingress: publish status events, read what was refused.

pika's blocking connection belongs to the thread that made it, so each of
these is used from one thread (the tests call them with `asyncio.to_thread`).
"""

import json
import time
import urllib.parse

import pika

CONFIRM_TIMEOUT_SECS = 30


def parameters(amqp_url: str) -> pika.URLParameters:
    return pika.URLParameters(amqp_url.rstrip("/") or amqp_url)


class Publisher:
    """Publish persistent messages to the ingress exchange under publisher confirms."""

    def __init__(self, amqp_url: str, exchange: str, confirm: bool = True):
        self.exchange = exchange
        self.user = urllib.parse.unquote(urllib.parse.urlsplit(amqp_url).username or "guest")
        self.connection = pika.BlockingConnection(parameters(amqp_url))
        self.channel = self.connection.channel()
        self.channel.exchange_declare(exchange, exchange_type="topic", durable=True)
        self.confirming = confirm
        if confirm:  # each publish then waits for the broker's confirm
            self.channel.confirm_delivery()

    def publish(self, body, message_id: str | None, *, user_id: str | None = "", routing_key="status", **props):
        """Publish `body` (a dict is sent as JSON; bytes as they are); `user_id=""` means the connection's user."""
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        properties = pika.BasicProperties(
            delivery_mode=2,
            message_id=message_id,
            user_id=self.user if user_id == "" else user_id,
            **props,
        )
        self.channel.basic_publish(self.exchange, routing_key, raw, properties, mandatory=self.confirming)

    def start_confirming(self) -> None:
        """From now on each publish waits for the broker's confirm.

        The broker handles a channel's messages in order, so the confirm of
        a last message means every earlier one reached the queue: without
        it, the tail of a fast unconfirmed run could still be in flight when
        the channel closes, and is then lost (seen with the quorum queue).
        """
        self.channel.confirm_delivery()
        self.confirming = True

    def close(self) -> None:
        self.connection.close()


class RejectedTap:
    """An exclusive queue bound to the rejected exchange; `collect` waits for a number of messages."""

    def __init__(self, amqp_url: str, exchange: str):
        self.connection = pika.BlockingConnection(parameters(amqp_url))
        self.channel = self.connection.channel()
        self.channel.exchange_declare(exchange, exchange_type="fanout", durable=True)
        self.queue = self.channel.queue_declare("", exclusive=True).method.queue
        self.channel.queue_bind(self.queue, exchange)

    def collect(self, count: int, timeout: float = 30) -> list[tuple[pika.BasicProperties, bytes]]:
        """Return `count` refused messages (properties, body); fail after `timeout`."""
        got, deadline = [], time.monotonic() + timeout
        for method, properties, body in self.channel.consume(self.queue, auto_ack=True, inactivity_timeout=timeout):
            if method is not None:
                got.append((properties, body))
            if len(got) >= count or time.monotonic() > deadline:
                break
        self.channel.cancel()
        assert len(got) == count, f"{len(got)} of {count} refused messages within {timeout}s"
        return got

    def close(self) -> None:
        self.connection.close()


def delete_ingress(amqp_url: str, exchange: str) -> None:
    """Delete the durable queue and exchanges a test's instances declared on the shared broker."""
    connection = pika.BlockingConnection(parameters(amqp_url))
    channel = connection.channel()
    channel.queue_delete(f"{exchange}.events")
    channel.exchange_delete(exchange)
    channel.exchange_delete(f"{exchange}.rejected")
    connection.close()
