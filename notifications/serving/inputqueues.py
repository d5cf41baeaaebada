"""A small input queue for each daphne connection, instead of an `asyncio.Queue`.

daphne gives every connection an `asyncio.Queue` the protocol fills with
`put_nowait` and the application reads as `receive` (`await get()`). Such a
queue holds three deques and an `asyncio.Event` with a fourth: about 2.9 KiB
that an idle socket keeps for its whole life (docs/benchmarks.md, W3).
`InputQueue` does what daphne uses of it the
same way (first in, first out; a waiting `get` woken by `put_nowait`; a
message never lost when a waiting `get` is cancelled) and holds its messages
only while it has some. This replaces daphne's `Server.create_application`,
whose body it repeats with the other queue (and offers the connection to
`rawframes`).
"""

import asyncio
import sys
from collections import deque
from functools import partial

from notifications.serving import rawframes


class InputQueue:
    """One connection's ASGI messages from the server to the application, in order."""

    __slots__ = ("_items", "_getters")

    def __init__(self):
        self._items: deque | None = None  # the messages not yet received (None: none)
        self._getters: list[asyncio.Future] | None = None  # the `get` calls waiting, oldest first

    def put_nowait(self, item) -> None:
        """Add a message and wake the oldest waiting `get` (never blocks: daphne's queues have no bound)."""
        if self._items is None:
            self._items = deque()
        self._items.append(item)
        self._wake_next()

    async def get(self):
        """Return the oldest message, waiting for one if there is none (what the application awaits as `receive`)."""
        while not self._items:
            getter = asyncio.get_running_loop().create_future()
            if self._getters is None:
                self._getters = []
            self._getters.append(getter)
            try:
                await getter
            except BaseException:
                self._forget(getter)
                if self._items and not getter.cancelled():  # woken, then cancelled: the next one takes it
                    self._wake_next()
                raise
        item = self._items.popleft()
        if not self._items:
            self._items = None
        return item

    def qsize(self) -> int:
        return len(self._items or ())

    def _wake_next(self) -> None:
        while self._getters:
            getter = self._getters.pop(0)
            if not getter.done():
                getter.set_result(None)
                break
        if not self._getters:
            self._getters = None

    def _forget(self, getter: asyncio.Future) -> None:
        getter.cancel()
        if self._getters is not None and getter in self._getters:
            self._getters.remove(getter)
            if not self._getters:
                self._getters = None


def create_application(server, protocol, scope):
    """daphne's `Server.create_application` (4.x), with an `InputQueue` for the connection.

    And one line of ours first: a WebSocket's protocol offered to the fast
    path for event frames (`rawframes.offer_protocol`).
    """
    rawframes.offer_protocol(protocol, scope)
    assert "application_instance" not in server.connections[protocol]
    input_queue = InputQueue()
    scope.setdefault("asgi", {"version": "3.0"})
    application_instance = server.application(
        scope=scope,
        receive=input_queue.get,
        send=partial(server.handle_reply, protocol),
    )
    if protocol not in server.connections:
        return None
    server.connections[protocol]["application_instance"] = asyncio.ensure_future(
        application_instance,
        loop=asyncio.get_event_loop(),
    )
    return input_queue


def use_small_input_queues() -> None:
    """Make daphne give each new connection an `InputQueue` (idempotent; nothing without daphne)."""
    server_module = sys.modules.get("daphne.server")
    if server_module is None:  # not served by daphne (importing it would install Twisted's reactor)
        return
    server_class = server_module.Server
    if server_class.create_application is create_application:
        return
    create_application.wraps = server_class.create_application
    server_class.create_application = create_application
