"""Reach a SockJS session held by another instance, through the channel layer: no sticky sessions.

A session lives on the instance that got its first request; that instance's
channel joins the session's group (`<namespace>.sockjs.<endpoint>.<id>`). A
later request that lands elsewhere is sent to that group as one
`sockjs.request` (`send` with the messages, `poll` or `stream` to receive,
`detach` when the client left); the owner answers on the requester's channel
with `sockjs.reply` messages: a status, then the frames for the response,
the last one marked `done`. No answer within `first_reply_secs` means no
instance holds the session.
"""

import asyncio
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from django.conf import settings

from notifications.realtime.hub import Hub
from notifications.realtime.layer import LayerUnavailable

logger = logging.getLogger(__name__)

REQUEST = "sockjs.request"
REPLY = "sockjs.reply"
FIRST_REPLY_SECS = 0.25
# A reply stream that stays silent this much longer than a heartbeat period has lost its owner.
SILENCE_MARGIN_SECS = 10.0


class NotHeld(Exception):
    """No instance answered for the session: it does not exist (anymore)."""


@dataclass(frozen=True)
class Credential:
    """What a request authenticates with: its session cookie's user and a digest of its `?ticket=`."""

    user_id: int | None
    ticket_digest: str | None

    def as_message(self) -> list:
        return [self.user_id, self.ticket_digest]

    @classmethod
    def from_message(cls, value: list) -> "Credential":
        return cls(value[0], value[1])


def ticket_digest(raw_ticket: str | None) -> str | None:
    """Return the digest a session keeps of its opening ticket (never the ticket itself)."""
    return hashlib.sha256(raw_ticket.encode("utf-8", "surrogatepass")).hexdigest() if raw_ticket else None


def session_group(endpoint: str, session_id: str) -> str:
    return f"{settings.NOTIFY_NAMESPACE}.sockjs.{endpoint}.{session_id}"


def request_message(op: str, endpoint: str, session_id: str, request_id: str, reply_to: str, **fields) -> dict:
    return {
        "type": REQUEST,
        "op": op,
        "endpoint": endpoint,
        "session": session_id,
        "request": request_id,
        "reply_to": reply_to,
        **fields,
    }


def reply_message(request_id: str, *, status: int = 200, frame: str | None = None, done: bool = True) -> dict:
    return {"type": REPLY, "request": request_id, "status": status, "frame": frame, "done": done}


class RemoteReceiver:
    """The receiving request of a session when it landed on another instance: frames go back over the layer."""

    remote = True

    def __init__(self, hub: Hub, reply_to: str, request_id: str, streaming: bool):
        self.hub, self.reply_to, self.request_id, self.streaming = hub, reply_to, request_id, streaming

    async def send(self, frame: str, last: bool) -> None:
        await self.hub.link.call("send", self.reply_to, reply_message(self.request_id, frame=frame, done=last))


class Relay:
    """This process's side of the relay: forwards requests, routes replies, hands requests to the owner."""

    def __init__(self):
        self._waiting: dict[str, asyncio.Queue] = {}
        self.owner = None  # set by the sessions registry: an async callable(message) for requests here

    def install(self) -> None:
        Hub.extra_handlers[REQUEST] = self.on_request
        Hub.extra_handlers[REPLY] = self.on_reply

    def on_request(self, message: dict) -> None:
        hub = Hub.running()
        if self.owner is not None and hub is not None:
            hub.tasks.spawn(self.owner(message), "sockjs request")

    def on_reply(self, message: dict) -> None:
        queue = self._waiting.get(message.get("request"))
        if queue is not None:
            queue.put_nowait(message)

    async def forward(
        self,
        op: str,
        endpoint: str,
        session_id: str,
        *,
        silence_secs: float,
        first_reply_secs: float | None = None,
        **fields,
    ) -> AsyncIterator[dict]:
        """Send one request to the session's owner and yield its replies until `done`; raise NotHeld if none."""
        self.install()  # the replies are routed here
        hub = await Hub.ensure_started()
        if not hub.link.is_rabbitmq:  # the in-process layer has one instance: nobody else holds it
            raise NotHeld()
        request_id = uuid.uuid4().hex
        queue = self._waiting[request_id] = asyncio.Queue()
        done = False
        try:
            message = request_message(op, endpoint, session_id, request_id, hub.link.channel, **fields)
            try:
                await hub.link.call("group_send", session_group(endpoint, session_id), message)
                reply = await asyncio.wait_for(queue.get(), FIRST_REPLY_SECS)
            except (TimeoutError, LayerUnavailable):
                raise NotHeld() from None
            while True:
                done = reply["done"]
                yield reply
                if done:
                    return
                try:
                    reply = await asyncio.wait_for(queue.get(), silence_secs + SILENCE_MARGIN_SECS)
                except TimeoutError:
                    return
        finally:
            del self._waiting[request_id]
            if not done and op in ("poll", "stream"):
                hub.tasks.spawn(self._detach(hub, endpoint, session_id, request_id), "sockjs detach")

    async def _detach(self, hub: Hub, endpoint: str, session_id: str, request_id: str) -> None:
        message = request_message("detach", endpoint, session_id, request_id, hub.link.channel)
        try:
            await hub.link.call("group_send", session_group(endpoint, session_id), message)
        except LayerUnavailable:
            logger.info("could not tell a sockjs session's owner that a receiver left")


relay = Relay()
