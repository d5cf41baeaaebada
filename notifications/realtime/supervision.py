"""Background tasks that never fail unseen: kept referenced, and logged (or handed on) when they fail.

asyncio keeps only weak references to tasks and reports an exception no one
awaited only when the task is garbage-collected, if ever. Every task this
runtime starts in the background goes through a `TaskSet` instead.
"""

import asyncio
import logging
from collections.abc import Callable, Coroutine

logger = logging.getLogger(__name__)

CANCEL_ROUNDS = 5
CANCEL_WAIT_SECS = 1.0


class TaskSet:
    """The running background tasks of one owner (the hub, a session); one per socket, so kept small."""

    __slots__ = ("owner", "_on_failure", "_tasks")

    def __init__(self, owner: str, on_failure: Callable[[asyncio.Task, BaseException], None] | None = None):
        self.owner = owner
        self._on_failure = on_failure
        self._tasks: set[asyncio.Task] | None = None  # made by the first spawn, dropped when the last task ends

    def spawn(self, coroutine: Coroutine, name: str) -> asyncio.Task:
        """Run `coroutine` as a task of this set; its failure is logged once, then handed to `on_failure`."""
        task = asyncio.get_running_loop().create_task(coroutine, name=f"{self.owner}:{name}")
        if self._tasks is None:
            self._tasks = set()
        self._tasks.add(task)
        task.add_done_callback(self._ended)
        return task

    def _ended(self, task: asyncio.Task) -> None:
        if self._tasks is not None:
            self._tasks.discard(task)
            if not self._tasks:
                self._tasks = None
        if task.cancelled() or task.exception() is None:
            return
        error = task.exception()
        logger.error("background task %s failed", task.get_name(), exc_info=error, extra={"event": "task.failed"})
        if self._on_failure is not None:
            self._on_failure(task, error)

    def __iter__(self):
        return iter(list(self._tasks or ()))

    def __len__(self) -> int:
        return len(self._tasks or ())

    async def cancel_all(self, rounds: int = CANCEL_ROUNDS) -> None:
        """Cancel every task of the set and wait for them to end.

        A task that swallowed its cancellation (a library catching
        CancelledError) is cancelled again, up to `rounds` times, a second apart.
        """
        pending = set(self._tasks or ())
        for _ in range(rounds):
            if not pending:
                return
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=CANCEL_WAIT_SECS)
        if pending:
            logger.error("%s: %s tasks outlived cancellation", self.owner, len(pending))
