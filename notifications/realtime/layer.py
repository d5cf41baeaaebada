"""The process's link to the channel layer: bounded calls, a health probe, recovery.

channels-rabbitmq blocks without limit while the broker is away and can wedge
for good (see README, "Channel layer"). Every call here is bounded, runs only
on the loop the layer was made on, and a failed probe replaces the layer with
a fresh one instead of waiting on it.
"""

import asyncio
import logging
import time

from channels.layers import BaseChannelLayer, channel_layers
from django.conf import settings
from django.utils.module_loading import import_string

from notifications import conf
from notifications.realtime.broker_nodes import BrokerNodes

logger = logging.getLogger(__name__)

CALL_TIMEOUT_SECS = 3.0
PROBE_MESSAGE = "layer.probe"
# How long a probe may wait behind messages that keep arriving ahead of it (a saturated read loop):
# channels-rabbitmq drops a message kept in its local buffer after 15 s (local_expiry), a probe too.
PROBE_BACKLOG_LIMIT_SECS = 15.0


class LayerUnavailable(Exception):
    """The channel layer did not answer in time; the caller falls back on the database."""


class LayerLink:
    """Own one channel layer instance and the single channel this process reads."""

    def __init__(self, alias: str = "default"):
        self.alias = alias
        self.layer: BaseChannelLayer | None = None
        self.channel: str | None = None
        self.generation = 0
        self.healthy = False
        self.last_ok_monotonic: float | None = None
        self.last_error = "not started"
        self.reconnects = 0
        self._probe_waiters: dict[int, asyncio.Future] = {}
        self._probe_counter = 0
        self.received = 0  # messages the read loop has taken, so a probe can tell "behind" from "down"
        self.nodes: BrokerNodes | None = None  # the broker nodes, once opened on RabbitMQ

    @property
    def node(self) -> str | None:
        """Return `host:port` of the broker node the layer uses (None: the in-process layer)."""
        return None if self.nodes is None else self.nodes.address

    @property
    def is_rabbitmq(self) -> bool:
        return "rabbitmq" in settings.CHANNEL_LAYERS[self.alias]["BACKEND"].lower()

    async def open(self) -> None:
        """Make a fresh layer and channel (the old one, if any, is dropped without waiting)."""
        old = self.layer
        self.layer = await self._make_layer(replacing=old is not None)
        if hasattr(self.layer, "capacity"):
            self.layer.capacity = max(self.layer.capacity, 10_000)
        self.channel = await self.layer.new_channel()
        self.generation += 1
        if old is not None:
            self.reconnects += 1
            asyncio.get_running_loop().create_task(_close_quietly(old))

    async def _make_layer(self, replacing: bool) -> BaseChannelLayer:
        """Build the layer on a reachable broker node: the first listed, then the next after a failure."""
        if not self.is_rabbitmq or not conf.amqp_urls():
            return channel_layers.make_backend(self.alias)
        if self.nodes is None:
            self.nodes = BrokerNodes(conf.amqp_urls())
            url = await self.nodes.first_reachable()
        elif replacing:
            url = await self.nodes.move()
        else:
            url = self.nodes.current
        config = settings.CHANNEL_LAYERS[self.alias]
        logger.info("channel layer uses broker node %s", self.nodes.address)
        return import_string(config["BACKEND"])(**{**config.get("CONFIG", {}), "host": url})

    async def close(self) -> None:
        if self.layer is not None:
            await _close_quietly(self.layer)
            self.layer = None

    async def call(self, method: str, *args, timeout: float = CALL_TIMEOUT_SECS):
        """Run one layer call with a deadline; raise LayerUnavailable past it.

        The call is shielded: cancelling a wait on channels-rabbitmq's shared
        connection future would break the layer for every later caller.
        """
        layer = self.layer
        if layer is None:
            raise LayerUnavailable("layer not open")
        try:
            return await asyncio.wait_for(asyncio.shield(getattr(layer, method)(*args)), timeout)
        except (TimeoutError, OSError, ConnectionError) as exc:
            raise LayerUnavailable(f"{method} did not complete: {exc.__class__.__name__}") from exc
        except asyncio.CancelledError:
            if asyncio.current_task().cancelling():
                raise  # we are being cancelled: pass it on
            # The layer's shared connection future was cancelled by someone else's
            # unshielded wait: every call now raises CancelledError at once. Passing
            # it on would kill the caller's loop (the hub's probe), so the layer is
            # reported broken and gets replaced (tests/faults/test_layer_wedges.py).
            raise LayerUnavailable(f"{method} was cancelled inside the layer") from None

    async def group_send_all(self, items: list[tuple[str, dict]], timeout: float = CALL_TIMEOUT_SECS) -> list[bool]:
        """Send each (group, message) and return which the broker confirmed within the deadline.

        Pipelined: the sends start in order and each writes its frame before it
        waits for the confirm, so the wire keeps their order while all confirms
        are awaited together. As in `call`, no send is ever cancelled.
        """
        layer = self.layer
        if layer is None or not items:
            return [False] * len(items)
        sends = [asyncio.ensure_future(layer.group_send(group, message)) for group, message in items]
        for send in sends:
            send.add_done_callback(_retrieve_outcome)
        await asyncio.wait(sends, timeout=timeout)
        return [send.done() and not send.cancelled() and send.exception() is None for send in sends]

    async def receive(self):
        """Wait for the next message on this process's channel (no deadline: it is the read loop)."""
        message = await self.layer.receive(self.channel)
        self.received += 1
        return message

    async def probe(self, timeout: float) -> bool:
        """Send a message to our own channel and wait for the read loop to see it.

        The probe queues behind whatever was sent to this process before it,
        so while other messages keep arriving the layer is working and only
        this process is behind (a saturated loop): the wait goes on, up to
        PROBE_BACKLOG_LIMIT_SECS, instead of replacing a layer that works.
        """
        self._probe_counter += 1
        number = self._probe_counter
        waiter = asyncio.get_running_loop().create_future()
        self._probe_waiters[number] = waiter
        started = time.monotonic()
        try:
            await self.call("send", self.channel, {"type": PROBE_MESSAGE, "number": number}, timeout=timeout)
            await self._wait_for_probe(waiter, started, timeout)
        except (TimeoutError, LayerUnavailable) as exc:
            self._record(number, ok=False, reason=f"probe failed: {exc or exc.__class__.__name__}")
            return False
        except Exception as exc:  # the layer itself raised: count it as down, log once
            logger.exception("channel layer probe raised")
            self._record(number, ok=False, reason=f"probe raised {exc.__class__.__name__}")
            return False
        finally:
            self._probe_waiters.pop(number, None)
        self._record(number, ok=True)
        return True

    async def _wait_for_probe(self, waiter: asyncio.Future, started: float, timeout: float) -> None:
        """Wait for the probe's return; raise TimeoutError once a whole `timeout` passed with nothing arriving."""
        window = max(0.1, timeout - (time.monotonic() - started))
        while True:
            received_before = self.received
            await asyncio.wait([waiter], timeout=window)
            if waiter.done():
                return
            if self.received == received_before or time.monotonic() - started > PROBE_BACKLOG_LIMIT_SECS:
                raise TimeoutError(f"no probe back within {time.monotonic() - started:.1f}s")
            window = timeout

    def _record(self, number: int, ok: bool, reason: str = "") -> None:
        """Update health from a probe's outcome, unless a newer probe has started since."""
        if number != self._probe_counter:
            return
        if ok:
            self._mark_healthy()
        else:
            self._mark_unhealthy(reason)

    def probe_arrived(self, message: dict) -> None:
        waiter = self._probe_waiters.get(message.get("number"))
        if waiter is not None and not waiter.done():
            waiter.set_result(True)

    def _mark_healthy(self) -> None:
        if not self.healthy:
            logger.info("channel layer is reachable (generation %s)", self.generation)
        self.healthy = True
        if self.nodes is not None:
            self.nodes.settled()
        self.last_ok_monotonic = time.monotonic()
        self.last_error = ""

    def _mark_unhealthy(self, reason: str) -> None:
        if self.healthy:
            logger.warning("channel layer is not answering: %s", reason)
        self.healthy = False
        self.last_error = reason


def _retrieve_outcome(send: asyncio.Future) -> None:
    """Collect a send's exception (one past its deadline finishes unobserved); the hub already counted it."""
    if not send.cancelled():
        send.exception()


async def _close_quietly(layer: BaseChannelLayer) -> None:
    """Close an abandoned layer without letting a wedged one block or raise."""
    close = getattr(layer, "close", None)
    if close is None:
        return
    try:
        await asyncio.wait_for(close(), 5)
    except Exception:  # a wedged layer may fail any way; it is being dropped
        logger.debug("abandoned channel layer did not close cleanly", exc_info=True)
    except asyncio.CancelledError:
        if asyncio.current_task().cancelling():
            raise
        # close() awaits its connection future, which raises CancelledError when
        # an unshielded wait cancelled it: that layer is broken, not our caller.
        logger.debug("abandoned channel layer's connection future was cancelled")
    for name in ("_reconnect_forever_task", "_expire_task"):
        task = getattr(layer, name, None)
        if task is not None and not task.done():
            task.cancel()
