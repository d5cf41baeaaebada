"""The process's hub: one channel-layer reader for every socket this process holds.

Each process subscribes its single layer channel to the groups of the users
it holds sockets for, plus the everyone group, and routes what arrives to
those sockets. That is one layer message per group a commit touches, or
one for the whole commit (not one per socket, nor one per event of a
batch), and one place to probe the layer, replace it when it wedges, and
tell every socket to catch up afterwards.
"""

import asyncio
import logging
import time
from collections import Counter, defaultdict
from typing import Protocol

from django.conf import settings

from notifications import conf, serving
from notifications.ops import runtime_status
from notifications.protocol import layer_messages
from notifications.realtime import connection_events, escalation, fanout, ingress, ledger, shutdown
from notifications.realtime.gateway import upstream
from notifications.realtime.layer import LayerLink, LayerUnavailable
from notifications.realtime.presence_writer import PresenceWriter
from notifications.realtime.supervision import TaskSet
from notifications.realtime.watch import SocketWatch
from notifications.serving import rawframes
from notifications.store import presence, publishing

logger = logging.getLogger(__name__)

PROBE_INTERVAL_SECS = 2.0
PROBE_TIMEOUT_SECS = 3.0
MIN_SECS_BETWEEN_LAYER_REPLACEMENTS = 8.0
HEADS_CHECK_SECS = 3.0
CLOSE_GOING_AWAY = 1001


class LocalConnection(Protocol):
    """What the hub needs of a socket (implemented by the consumer)."""

    user_id: int
    protocol: str
    session_key: str
    connection_id: str
    connected_at: object
    last_activity: object
    delivery: object

    def offer_event(self, message: dict) -> None: ...

    def offer_control(self, message: dict) -> None: ...

    async def close(self, code: int) -> None: ...


class Hub:
    """Route layer messages to this process's sockets; keep the layer healthy."""

    _running: "Hub | None" = None
    _starting: "asyncio.Task | None" = None

    def __init__(self):
        self.link = LayerLink()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.connections: dict[int, set[LocalConnection]] = defaultdict(set)
        self._bound_groups: set[str] = set()
        self.fanout: fanout.FanOut | None = None
        # Every background task (loops, bindings, catch-ups), logged when one fails.
        self.tasks = TaskSet("hub")
        self._tasks: list[asyncio.Task] = []  # the loops that run as long as the hub
        self._reader: asyncio.Task | None = None
        self._last_replacement = 0.0
        self.started_at = time.time()
        self.presence = PresenceWriter(presence.instance_name(), self.local_connections)
        self.draining = False
        self.watch = SocketWatch(self)
        self.ingress: ingress.IngressConsumer | None = None

    # --- lifecycle -------------------------------------------------------------

    @classmethod
    def running(cls) -> "Hub | None":
        return cls._running

    @classmethod
    async def ensure_started(cls) -> "Hub":
        """Return this process's hub, started on the running loop; concurrent first callers wait for one start.

        A hub whose start failed is never handed out: it is stopped, and the
        next caller tries again.
        """
        loop = asyncio.get_running_loop()
        hub = cls._running
        if hub is not None and hub.loop is loop:
            return hub
        starting = cls._starting
        if starting is None or starting.get_loop() is not loop:
            starting = cls._starting = loop.create_task(cls._start_one())
        return await asyncio.shield(starting)

    @classmethod
    async def _start_one(cls) -> "Hub":
        hub = cls()
        try:
            await hub.start()
        except BaseException:
            cls._starting = None
            logger.exception("hub did not start; the next connection tries again")
            await hub.stop()
            raise
        cls._running, cls._starting = hub, None
        return hub

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.fanout = fanout.FanOut(self.link, self.loop)
        await self.link.open()
        self._reader = self.tasks.spawn(self._read_forever(), "read")
        for worker in (
            self.fanout.send_forever,
            self._probe_forever,
            self._sweep_outbox_forever,
            self._check_heads_forever,
        ):
            self._tasks.append(self.tasks.spawn(worker(), worker.__name__))
        self._presence_task = self.tasks.spawn(self.presence.run_forever(self.close_requested), "presence")
        self._tasks.append(self._presence_task)
        self._start_connection_events()
        self._tasks.append(self.tasks.spawn(escalation.Escalator().run_forever(), "unseen escalation"))
        if conf.delivery_ledger():
            self._tasks.append(self.tasks.spawn(ledger.running_recorder().run_forever(), "delivery ledger"))
        self.ingress = ingress.start_consumer(self.tasks, self._tasks)
        self._bind_in_background(layer_messages.everyone_group())
        publishing.set_sink(self.fanout.submit_threadsafe)
        runtime_status.set_provider(self.status)
        serving.install()
        graceful = shutdown.install_sigterm_handler(self)
        mode = "RabbitMQ" if self.link.is_rabbitmq else "in-process (one instance only)"
        logger.info(
            "hub started: channel layer %s, namespace %s, instance %s%s",
            mode,
            settings.NOTIFY_NAMESPACE,
            self.presence.instance,
            ", SIGTERM closes sockets with 1001" if graceful else "",
        )

    def _start_connection_events(self) -> None:
        """Run the publishers of PROTOCOL 5.2's connection events (to the exchange when on RabbitMQ, to webhooks)."""
        sender = connection_events.WebhookSender()
        wakes = [sender.wake]
        if connection_events.amqp_urls():
            publisher = connection_events.ExchangePublisher(connection_events.amqp_urls())
            wakes.append(publisher.wake)
            self._tasks.append(self.tasks.spawn(publisher.run_forever(), "connection events"))
        self._tasks.append(self.tasks.spawn(sender.run_forever(), "webhooks"))
        self.presence.on_stored = lambda: [wake.set() for wake in wakes]

    async def stop(self) -> None:
        """Stop every task and close the layer (also what a failed `start` had begun)."""
        await self.tasks.cancel_all()
        await self.guarded(self.presence.close)
        await self.guarded(self.link.close)
        await self.guarded(upstream.close_client)
        if Hub._running in (self, None):
            Hub._running = None
            publishing.set_sink(None)
            runtime_status.set_provider(None)

    async def drain(self) -> None:
        """Close every local socket with 1001 and delete this process's presence rows (before a stop)."""
        self.draining = True
        self._presence_task.cancel()
        await asyncio.gather(self._presence_task, return_exceptions=True)
        # Rows first: a client that sees 1001 and asks another instance finds this one gone already.
        await self.presence.close()
        closing = [connection.close(CLOSE_GOING_AWAY) for connection in self.local_connections()]
        await asyncio.gather(*closing, return_exceptions=True)
        logger.info("drained: %s sockets closed with 1001, presence rows deleted", len(closing))
        while self.connection_count():  # the clients' close replies, so the close frames reach them
            await asyncio.sleep(0.05)
        await upstream.close_client()

    # --- sockets ----------------------------------------------------------------

    def register(self, connection: LocalConnection) -> None:
        """Start routing the user's events to this socket (never waits on the broker)."""
        first = not self.connections[connection.user_id]
        self.connections[connection.user_id].add(connection)
        self.presence.connected(connection)
        if first:
            self._bind_in_background(layer_messages.user_group(connection.user_id), then_catch_up=connection.user_id)

    def unregister(self, connection: LocalConnection) -> None:
        sockets = self.connections.get(connection.user_id)
        if sockets is None or connection not in sockets:
            return
        sockets.discard(connection)
        self.presence.disconnected(connection)
        if not sockets:
            del self.connections[connection.user_id]
            self.tasks.spawn(self._unbind(connection.user_id), "unbind")

    def connection_count(self) -> int:
        return sum(len(sockets) for sockets in self.connections.values())

    async def bind_group(self, group: str) -> None:
        """Add this process's channel to `group` now (kept across layer replacements); raise LayerUnavailable."""
        self._bound_groups.add(group)
        await self.link.call("group_add", group, self.link.channel)

    async def unbind_group(self, group: str) -> None:
        self._bound_groups.discard(group)
        try:
            await self.link.call("group_discard", group, self.link.channel)
        except LayerUnavailable:
            pass

    def _bind_in_background(self, group: str, then_catch_up: int | None = None) -> None:
        self._bound_groups.add(group)
        self.tasks.spawn(self._bind(group, then_catch_up), "bind")

    async def _bind(self, group: str, then_catch_up: int | None) -> None:
        try:
            await self.link.call("group_add", group, self.link.channel)
        except LayerUnavailable:
            return  # re-bound with every group when the layer is replaced
        if then_catch_up is not None:
            self.watch.bound(then_catch_up)

    async def _unbind(self, user_id: int) -> None:
        if user_id in self.connections:
            return  # the user came back meanwhile
        group = layer_messages.user_group(user_id)
        self._bound_groups.discard(group)
        try:
            await self.link.call("group_discard", group, self.link.channel)
        except LayerUnavailable:
            return
        if user_id in self.connections:
            # The user came back while the unbind was in flight, and its bind may
            # have landed first: bind again so live events do not wait for the heads check.
            self._bind_in_background(group, then_catch_up=user_id)

    # --- publishing ------------------------------------------------------------------

    async def sweep_outbox(self) -> int:
        """Send the events no instance has fanned out yet (see `FanOut.sweep_outbox`)."""
        return await self.fanout.sweep_outbox()

    async def _sweep_outbox_forever(self) -> None:
        while True:
            await asyncio.sleep(fanout.OUTBOX_SWEEP_SECS)
            if self.link.healthy:
                await self.guarded(self.sweep_outbox)

    # --- receiving -----------------------------------------------------------------

    async def _read_forever(self) -> None:
        while True:
            try:
                message = await self.link.receive()
            except asyncio.CancelledError:
                raise
            except Exception:  # the layer died under us; the probe replaces it
                logger.warning("channel layer receive failed; waiting for the layer to be replaced")
                await asyncio.sleep(1)
                continue
            self._guarded_sync(self._route, message)

    # Handlers of further layer message types, registered by the modules that own them (type -> callable(message)).
    extra_handlers: dict = {}

    def _route(self, message: dict) -> None:
        kind = message.get("type", "")
        handler = getattr(self, "on_" + kind.replace(".", "_"), None) or self.extra_handlers.get(kind)
        if handler is None:
            logger.warning("hub ignored a layer message of unknown type %r", message.get("type"))
            return
        handler(message)

    def on_layer_probe(self, message: dict) -> None:
        self.link.probe_arrived(message)

    def on_events_stored(self, message: dict) -> None:
        """Offer each event to the local sockets of its user (of everyone, for an announcement)."""
        for user_id, seq, encoded, created_at in message["events"]:
            targets = self._targets(user_id)  # none here, often: a batch goes to every instance
            event = {"user_id": user_id, "seq": seq, "encoded": encoded, "created_at": created_at}
            for connection in targets:
                connection.offer_event(event)

    def on_read_marked(self, message: dict) -> None:
        for connection in self._targets(message["user_id"]):
            connection.offer_control(message)

    on_session_ended = on_read_marked

    def _targets(self, user_id: int | None) -> list[LocalConnection]:
        if user_id is None:
            return self.local_connections()
        return list(self.connections.get(user_id, ()))

    def local_connections(self) -> list[LocalConnection]:
        return [c for sockets in self.connections.values() for c in sockets]

    # --- health and recovery -----------------------------------------------------------

    async def _probe_forever(self) -> None:
        while True:
            await self.guarded(self._probe_once)
            await asyncio.sleep(PROBE_INTERVAL_SECS)

    async def _probe_once(self) -> None:
        """Probe the layer; replace it when it fails, catch every socket up when it comes back."""
        was_healthy = self.link.healthy
        ok = await self.link.probe(PROBE_TIMEOUT_SECS)
        if ok and not was_healthy:
            await self._after_recovery()
        elif not ok:
            await self._maybe_replace_layer()

    async def _maybe_replace_layer(self) -> None:
        if time.monotonic() - self._last_replacement < MIN_SECS_BETWEEN_LAYER_REPLACEMENTS:
            return
        self._last_replacement = time.monotonic()
        logger.warning("replacing the channel layer (%s)", self.link.last_error, extra={"event": "layer.replaced"})
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)
        await self.link.open()
        self._reader = self.tasks.spawn(self._read_forever(), "read")
        for group in list(self._bound_groups):
            self.tasks.spawn(self._bind(group, None), "bind")

    async def _after_recovery(self) -> None:
        """Close every gap the outage may have left, for every socket here."""
        for connection in self.local_connections():
            connection.delivery.catch_up()
        await self.guarded(self.sweep_outbox)

    async def _check_heads_forever(self) -> None:
        while True:
            await asyncio.sleep(HEADS_CHECK_SECS)
            await self.guarded(self.watch.check_heads)
            await self.guarded(self.watch.check_sessions)

    def close_requested(self, connection_ids: set[str]) -> None:
        """Close with 4000 the local sockets an operator asked to disconnect (found by the presence heartbeat)."""
        for connection in self.local_connections():
            if connection.connection_id in connection_ids:
                connection.offer_control(layer_messages.session_ended_message(connection.user_id, None))

    async def guarded(self, work) -> None:
        """Run one periodic or background task, logging its failure instead of ending the loop that runs it."""
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("hub task %s failed; it runs again next period", work.__name__)

    def _guarded_sync(self, work, *args) -> None:
        try:
            work(*args)
        except Exception:
            logger.exception("hub could not route a layer message")

    # --- reporting ------------------------------------------------------------------------

    def status(self) -> dict:
        """Return what /readyz and presence report about the layer and the sockets here."""
        last_ok = self.link.last_ok_monotonic
        return {
            "layer": "rabbitmq" if self.link.is_rabbitmq else "in-process",
            "node": self.link.node,
            "healthy": self.link.healthy,
            "last_ok_secs_ago": None if last_ok is None else round(time.monotonic() - last_ok, 1),
            "error": self.link.last_error,
            "reconnects": self.link.reconnects,
            "connections": self.connection_count(),
            "connections_by_protocol": dict(Counter(c.protocol for c in self.local_connections())),
            "ingress": None if self.ingress is None else self.ingress.status(),
            "frames_written_directly": rawframes.written,
        }
