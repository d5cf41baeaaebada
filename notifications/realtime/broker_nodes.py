"""Which node of a RabbitMQ cluster a broker link uses, and how it moves to another.

NOTIFY_AMQP_URL may list several nodes (comma-separated). A link starts on
the first that answers AMQP, in the order given, and when its node stops
answering it moves to the next one that does, after a jittered backoff that
grows while moves keep failing (so a whole service does not stampede one
node) and resets once the link is healthy again.
"""

import asyncio
import random
import urllib.parse
from collections.abc import Callable

AMQP_HEADER = b"AMQP\x00\x00\x09\x01"
REACHABLE_TIMEOUT_SECS = 1.0
FIRST_BACKOFF_SECS = 0.5
MAX_BACKOFF_SECS = 5.0


def address_of(url: str) -> str:
    """Return `host:port` of an AMQP URL (never its credentials or vhost)."""
    parts = urllib.parse.urlsplit(url)
    default_port = 5671 if parts.scheme == "amqps" else 5672
    return f"{parts.hostname or '127.0.0.1'}:{parts.port or default_port}"


async def answers_amqp(url: str, timeout: float = REACHABLE_TIMEOUT_SECS) -> bool:
    """Return whether the node of `url` answers the AMQP 0-9-1 header with a frame within `timeout`."""
    host, port = address_of(url).rsplit(":", 1)
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), timeout)
    except (OSError, TimeoutError):
        return False
    try:
        writer.write(AMQP_HEADER)
        return await asyncio.wait_for(reader.read(1), timeout) == b"\x01"
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()


class BrokerNodes:
    """The configured nodes in order, the one in use, and the backoff before the next move."""

    def __init__(self, urls: list[str], jitter: Callable[[], float] = random.random):
        if not urls:
            raise ValueError("BrokerNodes needs at least one AMQP URL")
        self.urls = list(urls)
        self.index = 0
        self.moves = 0
        self.failures = 0
        self._jitter = jitter

    @property
    def current(self) -> str:
        return self.urls[self.index]

    @property
    def address(self) -> str:
        return address_of(self.current)

    def backoff_secs(self) -> float:
        """Return how long to wait before the next move: doubling per failed move, capped, times 0.5-1."""
        ceiling = min(MAX_BACKOFF_SECS, FIRST_BACKOFF_SECS * 2**self.failures)
        return ceiling * (0.5 + self._jitter() / 2)

    def settled(self) -> None:
        """Note that the link works on its node: the next move waits the shortest backoff again."""
        self.failures = 0

    def advance(self) -> str:
        """Move to the next node in order (wrapping) without checking it; return its URL."""
        self.index = (self.index + 1) % len(self.urls)
        self.moves += 1
        return self.current

    async def first_reachable(self) -> str:
        """Use the first node, in the order given, that answers AMQP (the first one when none does)."""
        self.index = await self._reachable_from(0)
        return self.current

    async def move(self) -> str:
        """Wait the backoff, then move to the next node after this one that answers AMQP; return its URL.

        With one node, or none answering, that is the next in order: the
        layer keeps retrying it and the next failed probe moves again.
        """
        await asyncio.sleep(self.backoff_secs())
        self.failures += 1
        self.index = await self._reachable_from(self.index + 1)
        self.moves += 1
        return self.current

    async def _reachable_from(self, start: int) -> int:
        order = [(start + step) % len(self.urls) for step in range(len(self.urls))]
        for index in order:
            if await answers_amqp(self.urls[index]):
                return index
        return order[0]
