"""The input queue daphne hands each connection: first in, first out, and nothing lost to a cancelled wait."""

import asyncio

from notifications.serving.inputqueues import InputQueue


async def test_messages_come_out_in_the_order_they_were_put():
    """`get` returns what `put_nowait` added, oldest first, and holds nothing once empty."""
    queue = InputQueue()
    for n in range(3):
        queue.put_nowait({"n": n})
    assert [(await queue.get())["n"] for _ in range(3)] == [0, 1, 2]
    assert queue.qsize() == 0 and queue._items is None


async def test_a_waiting_get_is_woken_by_the_next_message():
    """The application's `receive` waits for the protocol's next message."""
    queue = InputQueue()
    waiting = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    assert not waiting.done()
    queue.put_nowait("connect")
    assert await asyncio.wait_for(waiting, 1) == "connect"
    assert queue._getters is None


async def test_a_get_cancelled_after_it_was_woken_leaves_the_message_to_the_next():
    """A message whose waiting `get` was cancelled before it ran stays queued for the next `get`."""
    queue = InputQueue()
    first = asyncio.ensure_future(queue.get())
    second = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait("only")
    first.cancel()
    assert await asyncio.wait_for(second, 1) == "only"
    assert first.cancelled() and queue.qsize() == 0


async def test_a_cancelled_wait_is_forgotten():
    """Cancelling an idle `get` (the socket's task ends) leaves no waiter behind, and later messages queue."""
    queue = InputQueue()
    waiting = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    assert queue._getters is None
    queue.put_nowait("late")
    assert await queue.get() == "late"
