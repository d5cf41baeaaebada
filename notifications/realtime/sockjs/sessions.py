"""The SockJS sessions this process holds: their message queue, receiving request, heartbeats and timeouts.

A session outlives its HTTP requests: messages wait in its queue until a
receiving request (a poll, a stream, possibly relayed from another instance)
takes them. One receiver at a time; a second gets `c[2010,...]`. A session
with no receiver for `disconnect_delay_secs` (5 s) ends; a receiver waiting
`heartbeat_secs` (25 s) gets `h`. After a close, the close frame answers for
the same delay, then the session id is unknown (404).
"""

import asyncio
import logging

from notifications import conf
from notifications.protocol import sockjs
from notifications.realtime.authentication import carried_credential
from notifications.realtime.hub import Hub
from notifications.realtime.layer import LayerUnavailable
from notifications.realtime.sockjs.bridge import reason_of
from notifications.realtime.sockjs.endpoints import Endpoint, available
from notifications.realtime.sockjs.relay import Credential, RemoteReceiver, relay, reply_message, session_group
from notifications.realtime.sockjs.relay import ticket_digest as digest_of
from notifications.realtime.supervision import TaskSet

logger = logging.getLogger(__name__)

CLOSE_CLIENT_GONE = 1001
# A client that does not take its messages: the session closes rather than buffer without bound.
MAX_QUEUED_MESSAGES = 5_000


# SockJS's own defaults (sockjs-node's `disconnect_delay` and `response_limit`).
DISCONNECT_DELAY_SECS = 5.0
RESPONSE_LIMIT_BYTES = 128 * 1024


def heartbeat_secs() -> float:
    """Return how long a receiving request waits before it gets `h`: the sockets' heartbeat (25 s)."""
    return conf.heartbeat_secs()


def disconnect_delay_secs() -> float:
    return DISCONNECT_DELAY_SECS


def response_limit_bytes() -> int:
    return RESPONSE_LIMIT_BYTES


class SockJsSession:
    """One SockJS session held here, with the protocol adapter (and its Session core) it drives."""

    def __init__(self, endpoint: Endpoint, session_id: str, scope: dict, registry: "Registry"):
        self.endpoint, self.session_id, self.registry = endpoint, session_id, registry
        self.adapter = endpoint.bridged(scope, self)
        self.ticket_digest = digest_of(carried_credential(scope))
        self.queue: list[str] = []
        self.receiver = None
        self.opened = False
        self.close_frame: str | None = None
        self._wake = asyncio.Event()
        self._receiving = asyncio.Lock()
        self._idle: asyncio.TimerHandle | None = None
        self.tasks = TaskSet(f"sockjs session {session_id}")

    @property
    def core(self):
        return self.adapter.session

    @property
    def user_id(self) -> int | None:
        return self.core.user_id if self.core is not None else None

    async def open(self) -> None:
        """Run the adapter's handshake: authentication, then its welcome (queued) or its close (4401)."""
        self._start_idle()
        await self.adapter.open()

    def admits(self, credential: Credential) -> bool:
        """Return whether a later request may act on this session: the opening ticket again, or the same user."""
        if self.user_id is None or self.close_frame is not None:
            return True  # not authenticated, or closed: it only answers its close frame (say, after a logout)
        if credential.ticket_digest is not None and credential.ticket_digest == self.ticket_digest:
            return True
        return credential.user_id == self.user_id

    # --- the bridged adapter's sink ----------------------------------------------------------------

    def enqueue(self, message: str) -> None:
        if self.close_frame is not None:
            return
        self.queue.append(message)
        self._wake.set()
        if len(self.queue) > MAX_QUEUED_MESSAGES:
            logger.info("sockjs session %s closed: its client takes no messages", self.session_id)
            self.tasks.spawn(self.adapter.close(1011), "overflow")

    async def close_by_server(self, code: int) -> None:
        """Close the session with `code`: its close frame goes to the current or next receiver."""
        if self.close_frame is not None:
            return
        self.close_frame = sockjs.close(code, reason_of(code))
        self._wake.set()
        # As a socket's disconnect comes after its close: not inside the adapter's own call (it may be its task).
        self.registry.spawn(self.adapter.disconnect(code), "disconnect")
        if self.receiver is None:
            self._start_idle()

    # --- from the client ---------------------------------------------------------------------------

    async def receive(self, messages: list[str]) -> None:
        """Hand the messages of one `xhr_send` to the adapter, in order (sends are served one at a time)."""
        async with self._receiving:
            for message in messages:
                if self.close_frame is not None:
                    return
                await self.adapter.handle(message)

    async def serve(self, receiver) -> None:
        """Send frames to one receiving request until its response is complete."""
        if self.receiver is not None:
            await receiver.send(sockjs.close(sockjs.CLOSE_ANOTHER_CONNECTION, "Another connection still open"), True)
            return
        if self.opened and self.close_frame is not None and not self.queue:
            await receiver.send(self.close_frame, True)
            return
        self.receiver = receiver
        self._cancel_idle()
        try:
            await self._pump(receiver)
        finally:
            if self.receiver is receiver:
                self.receiver = None
                self._start_idle()

    async def _pump(self, receiver) -> None:
        sent = 0
        if not self.opened:
            self.opened = True
            await receiver.send(sockjs.OPEN, not receiver.streaming)
            if not receiver.streaming:
                return
        while True:
            frame = await self._next_frame()
            sent += len(frame)
            last = (
                frame[0] == "c"
                or not receiver.streaming
                or sent >= response_limit_bytes()
                or (receiver.remote and frame == sockjs.HEARTBEAT)
            )
            await receiver.send(frame, last)
            if last:
                return

    async def _next_frame(self) -> str:
        while True:
            if self.queue:
                items, self.queue = self.queue, []
                return sockjs.messages(items)
            if self.close_frame is not None:
                return self.close_frame
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), heartbeat_secs())
            except TimeoutError:
                return sockjs.HEARTBEAT

    # --- timeouts ----------------------------------------------------------------------------------

    def _start_idle(self) -> None:
        self._cancel_idle()
        self._idle = asyncio.get_running_loop().call_later(disconnect_delay_secs(), self._idle_expired)

    def _cancel_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    def _idle_expired(self) -> None:
        self._idle = None
        if self.receiver is None:
            self.registry.spawn(self._expire(), "expire")

    async def _expire(self) -> None:
        if self.close_frame is None:
            self.close_frame = sockjs.close(sockjs.CLOSE_GO_AWAY, "Go away!")
            await self.adapter.disconnect(CLOSE_CLIENT_GONE)
        await self.tasks.cancel_all()
        await self.registry.remove(self)


class Registry:
    """The sessions held by this process, by (endpoint, id); also answers requests relayed from other instances."""

    def __init__(self):
        self.sessions: dict[tuple[str, str], SockJsSession] = {}
        self._opening: dict[tuple[str, str], asyncio.Future] = {}
        self._remote_receivers: dict[str, asyncio.Task] = {}
        self.tasks = TaskSet("sockjs sessions")
        relay.owner = self.serve_relayed
        relay.install()

    def spawn(self, coroutine, name: str) -> asyncio.Task:
        return self.tasks.spawn(coroutine, name)

    def get(self, endpoint: str, session_id: str) -> SockJsSession | None:
        return self.sessions.get((endpoint, session_id))

    async def create(self, endpoint: Endpoint, session_id: str, scope: dict) -> SockJsSession:
        """Open a session here: join its group (so other instances reach it), then run the handshake."""
        key = (endpoint.name, session_id)
        if key in self.sessions:
            return self.sessions[key]
        session = self.sessions[key] = SockJsSession(endpoint, session_id, scope, self)
        hub = await Hub.ensure_started()
        if hub.link.is_rabbitmq:
            try:
                await hub.bind_group(session_group(endpoint.name, session_id))
            except LayerUnavailable:
                del self.sessions[key]
                raise
        await session.open()
        return session

    async def remove(self, session: SockJsSession) -> None:
        key = (session.endpoint.name, session.session_id)
        if self.sessions.get(key) is session:
            del self.sessions[key]
            hub = Hub.running()
            if hub is not None and hub.link.is_rabbitmq:
                await hub.unbind_group(session_group(*key))

    # --- requests relayed from other instances --------------------------------------------------------

    async def serve_relayed(self, message: dict) -> None:
        """Answer one `sockjs.request` for a session held here (none held: no answer, the requester sees 404)."""
        session = self.get(message["endpoint"], message["session"])
        if session is None or available(message["endpoint"]) is None:
            return
        hub = Hub.running()
        op, request_id, reply_to = message["op"], message["request"], message["reply_to"]
        if op == "detach":
            task = self._remote_receivers.get(request_id)
            if task is not None:
                task.cancel()
            return
        if not session.admits(Credential.from_message(message["credential"])):
            await hub.link.call("send", reply_to, reply_message(request_id, status=403))
            return
        if op == "send":
            await session.receive(message["messages"])
            await hub.link.call("send", reply_to, reply_message(request_id, status=204))
        elif op in ("poll", "stream"):
            # Answer at once: the frames may wait for a message or a heartbeat, the requester only for its owner.
            await hub.link.call("send", reply_to, reply_message(request_id, status=200, done=False))
            await self._serve_remote(session, RemoteReceiver(hub, reply_to, request_id, op == "stream"))

    async def _serve_remote(self, session: SockJsSession, receiver: RemoteReceiver) -> None:
        self._remote_receivers[receiver.request_id] = asyncio.current_task()
        try:
            await session.serve(receiver)
        finally:
            self._remote_receivers.pop(receiver.request_id, None)


_registry: Registry | None = None


def registry() -> Registry:
    """Return this process's registry (made on first use, on the server's loop)."""
    global _registry
    if _registry is None:
        _registry = Registry()
    return _registry
