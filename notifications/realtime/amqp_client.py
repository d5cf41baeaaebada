"""A task on a RabbitMQ connection of its own (not the channel layer's): connect, work, reconnect after a loss.

The connection-events publisher and the ingress consumer are both one. On a
cluster (several NOTIFY_AMQP_URL nodes) a failure moves the client to the
next node: the exchanges and quorum queues it uses are the cluster's.
"""

import asyncio
import logging

import carehare

from notifications.realtime.broker_nodes import BrokerNodes

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECS = 5
CLOSE_TIMEOUT_SECS = 2


class AmqpClient:
    """Run `work()` on a connection of its own until cancelled; subclasses name it and say what progress is."""

    name = "amqp client"
    activity = "working"  # what the log says failed: "ingress: consuming failed (...)"
    reconnect_min_secs = 0.5
    reconnect_max_secs = 10.0

    def __init__(self, urls: list[str] | str):
        self.nodes = BrokerNodes([urls] if isinstance(urls, str) else urls)
        self.connection: carehare.Connection | None = None
        self.last_error = ""

    def progress(self) -> int:
        """Return a count that grows while the client does its work (a loss after progress retries at once)."""
        raise NotImplementedError("an AmqpClient says what its progress is")

    async def declare(self, connection: carehare.Connection) -> None:
        """Declare what the client needs on a fresh connection."""

    async def work(self) -> None:
        """Do the client's work on `self.connection` until the connection fails."""
        raise NotImplementedError("an AmqpClient says what its work is")

    async def run_forever(self) -> None:
        delay = self.reconnect_min_secs
        while True:
            before = self.progress()
            try:
                await self._connect()
                await self.work()
            except asyncio.CancelledError:
                await self._disconnect()
                raise
            except Exception as exc:  # the broker went away, or refused: reconnect
                self.last_error = f"{type(exc).__name__}: {exc}"[:200]
                logger.warning(
                    "%s: %s failed (%s); retrying in %.1fs", self.name, self.activity, self.last_error, delay
                )
                self.nodes.advance()
            await self._disconnect()
            delay = self.reconnect_min_secs if self.progress() > before else min(delay * 2, self.reconnect_max_secs)
            await asyncio.sleep(delay)

    async def _connect(self) -> None:
        self.connection = carehare.Connection(self.nodes.current, connect_timeout=CONNECT_TIMEOUT_SECS)
        await self.connection.connect()
        await self.declare(self.connection)
        self.connected()

    def connected(self) -> None:
        """Called once a connection is up and declared."""

    async def _disconnect(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            try:
                await asyncio.wait_for(connection.close(), CLOSE_TIMEOUT_SECS)
            except Exception:  # already gone with the broker
                pass
