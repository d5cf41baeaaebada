"""Connection events leave the process here (PROTOCOL 5.2): to the RabbitMQ exchange and to webhooks.

The presence writer stores the events with the presence rows (see
`store/connection_events.py`); the two tasks here, run by the hub, drain
the stored outbox. `ExchangePublisher` holds its own AMQP connection (the
channel layer is at most once), declares the durable topic exchange, and
publishes persistent messages under publisher confirms; only a confirmed
event is marked published, so a broker outage delays events and loses
none. `WebhookSender` POSTs due deliveries (these events', and the
`request.unseen` of publishing services) through one pooled httpx client,
at most NOTIFY_WEBHOOK_CONCURRENCY at once per endpoint, so a hanging or
failing receiver only delays its own deliveries; every attempt is stored.
"""

import asyncio
import logging
import time
from collections import defaultdict

import carehare
import httpx
import pamqp.body
import pamqp.commands
import pamqp.header
from channels.db import database_sync_to_async
from django.utils import timezone

from notifications import conf
from notifications.realtime.amqp_client import AmqpClient
from notifications.store import connection_events, webhooks

logger = logging.getLogger(__name__)

POLL_SECS = 1.0  # other instances' rows (and instance_lost ones) are picked up this often
CONFIRM_TIMEOUT_SECS = 10.0
RECONNECT_MAX_SECS = 5.0
MAX_WEBHOOKS_IN_FLIGHT = 200
# The reason of a close this side sent, by its code; any other code this side sends is `refused`.
# 1000 is only ever sent in answer to the client's own DISCONNECT (STOMP, MQTT, SockJS), so it is the client's.
SERVER_CLOSE_REASONS = {1000: "client", 4000: "session_ended", 1001: "shutdown", 1011: "error"}


# --- building the events of a socket (called by the presence writer) ------------------------


def _user(connection) -> dict:
    user = getattr(connection, "user", None)
    return {"id": connection.user_id, "username": user.get_username() if user is not None else ""}


def opened(connection, instance: str):
    """Return the `user.connected` of a socket that just registered."""
    return connection_events.build(
        connection_events.CONNECTED,
        user=_user(connection),
        connection_id=connection.connection_id,
        instance=instance,
        protocol=connection.protocol,
        at=connection.connected_at,
    )


def closed(connection, instance: str, *, code: int | None = None, reason: str | None = None):
    """Return the `user.disconnected` of a socket that ended (its code and reason from the session, unless given)."""
    closed_with = getattr(connection, "closed_with", None)
    if reason is None:
        code, reason = disconnect_code_and_reason(closed_with, getattr(connection, "end_code", None))
    return connection_events.build(
        connection_events.DISCONNECTED,
        user=_user(connection),
        connection_id=connection.connection_id,
        instance=instance,
        protocol=connection.protocol,
        at=timezone.now(),
        code=code,
        reason=reason,
    )


def disconnect_code_and_reason(closed_with: int | None, code: int | None) -> tuple[int | None, str]:
    """Return the close code and reason of an ended socket: who closed it (this side's code, if it did) and why."""
    if closed_with is None:
        return code, "error" if code == 1011 else "client"
    return closed_with, SERVER_CLOSE_REASONS.get(closed_with, "refused")


# --- the exchange --------------------------------------------------------------------------------


class ExchangePublisher(AmqpClient):
    """Publish the stored connection events to the topic exchange, confirmed, over a connection of its own."""

    name = "connection events"
    activity = "publishing"
    reconnect_max_secs = RECONNECT_MAX_SECS

    def __init__(self, urls: list[str] | str):
        super().__init__(urls)
        self.wake = asyncio.Event()
        self.published = 0

    def progress(self) -> int:
        return self.published

    async def declare(self, connection: carehare.Connection) -> None:
        await connection.exchange_declare(conf.connection_events_exchange(), exchange_type="topic", durable=True)

    async def work(self) -> None:
        await self._publish_forever()

    async def _publish_forever(self) -> None:
        while True:
            batch = await database_sync_to_async(connection_events.claim_unpublished)()
            if batch:
                await self._publish(batch)
                continue
            try:
                await asyncio.wait_for(self.wake.wait(), POLL_SECS)
            except TimeoutError:
                pass
            self.wake.clear()
            if self.connection.closed.done():
                raise ConnectionError("the broker closed the connection")

    async def _publish(self, batch) -> None:
        try:
            confirms = [self._send(event) for event in batch]
            await asyncio.wait_for(asyncio.gather(*confirms), CONFIRM_TIMEOUT_SECS)
        except BaseException:
            await asyncio.shield(database_sync_to_async(connection_events.release)([e.pk for e in batch]))
            raise
        await database_sync_to_async(connection_events.mark_published)([e.pk for e in batch])
        self.published += len(batch)

    def _send(self, event) -> asyncio.Future:
        """Publish one persistent JSON message; the future completes when the broker confirms it.

        carehare's own `publish` sends no properties, so this sends its
        frames with `delivery_mode=2` on carehare's confirming channel.
        """
        channel = self.connection._protocol._get_exchange_channel(conf.connection_events_exchange())
        body = event.body.encode("utf-8")
        properties = pamqp.commands.Basic.Properties(
            content_type="application/json", delivery_mode=2, message_id=str(event.event_id), message_type=event.type
        )
        channel._frame_writer.send_frames(
            [
                pamqp.commands.Basic.Publish(exchange=channel.exchange_name, routing_key=event.type),
                pamqp.header.ContentHeader(body_size=len(body), properties=properties),
                *_body_frames(body, channel._frame_max),
            ]
        )
        done = asyncio.get_running_loop().create_future()
        channel._delivering[channel._next_delivery_tag] = done
        channel._next_delivery_tag += 1
        return done


def _body_frames(body: bytes, frame_max: int) -> list:
    return [pamqp.body.ContentBody(value=body[i : i + frame_max]) for i in range(0, len(body), frame_max)]


# --- webhooks ---------------------------------------------------------------------------------------


class WebhookSender:
    """POST due webhook deliveries, a bounded number at once per endpoint, storing every attempt."""

    def __init__(self):
        self.wake = asyncio.Event()
        self._limits: dict[int, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(conf.webhook_concurrency()))
        self._in_flight: set[asyncio.Task] = set()

    async def run_forever(self) -> None:
        timeout = conf.webhook_timeout_secs()
        async with httpx.AsyncClient(timeout=httpx.Timeout(timeout), follow_redirects=False) as client:
            try:
                while True:
                    await self._guarded_round(client)
                    try:
                        await asyncio.wait_for(self.wake.wait(), POLL_SECS)
                    except TimeoutError:
                        pass
                    self.wake.clear()
            finally:  # a POST cut short is retried when its lease ends
                for task in list(self._in_flight):
                    task.cancel()
                await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def _guarded_round(self, client: httpx.AsyncClient) -> None:
        try:
            if len(self._in_flight) < MAX_WEBHOOKS_IN_FLIGHT:
                for delivery in await database_sync_to_async(webhooks.claim_due)():
                    task = asyncio.get_running_loop().create_task(self._deliver(client, delivery))
                    self._in_flight.add(task)
                    task.add_done_callback(self._in_flight.discard)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("webhooks: claiming due deliveries failed; retrying")

    async def _deliver(self, client: httpx.AsyncClient, delivery) -> None:
        async with self._limits[delivery.endpoint_id]:
            outcome = await self._post(client, delivery)
        try:
            await database_sync_to_async(webhooks.record_attempt)(delivery, **outcome)
        except Exception:
            logger.exception("webhooks: storing an attempt failed; the delivery is retried when its lease ends")

    async def _post(self, client: httpx.AsyncClient, delivery) -> dict:
        body = delivery.body.encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "X-Notify-Event": delivery.event_type,
            "X-Notify-Signature": webhooks.sign(delivery.endpoint.secret, int(time.time()), body),
            "User-Agent": "notify-webhooks",
        }
        started = time.monotonic()
        outcome = {"status_code": None, "answer": "", "error": ""}
        try:
            response = await asyncio.wait_for(
                client.post(delivery.endpoint.url, content=body, headers=headers), conf.webhook_timeout_secs()
            )
            outcome.update(status_code=response.status_code, answer=response.text[: webhooks.ANSWER_KEPT_CHARS])
        except (httpx.HTTPError, TimeoutError, OSError) as exc:
            outcome["error"] = f"{type(exc).__name__}: {exc}"[:200] or type(exc).__name__
        outcome["duration_ms"] = int((time.monotonic() - started) * 1000)
        return outcome


def amqp_urls() -> list[str]:
    """Return the broker nodes the exchange is on (the channel layer's): empty means no exchange publishing."""
    return conf.amqp_urls()
