"""Background tasks: kept until they end, and a failure is logged once and handed to the owner."""

import asyncio
import logging

from notifications.realtime.supervision import TaskSet


async def test_a_failed_task_is_logged_once_and_reported_to_its_owner(caplog):
    """The error is logged with its traceback and `on_failure` gets the task and the error."""
    reported = []
    tasks = TaskSet("owner", on_failure=lambda task, error: reported.append((task.get_name(), error)))

    async def fails():
        raise RuntimeError("boom")

    task = tasks.spawn(fails(), "worker")
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.sleep(0)  # done callbacks run on the next turn of the loop
    assert [(name, str(error)) for name, error in reported] == [("owner:worker", "boom")]
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR and r.exc_info] == [
        "background task owner:worker failed"
    ]
    assert len(tasks) == 0


async def test_cancelled_and_finished_tasks_are_not_failures(caplog):
    """Cancelling (a stop) and returning are quiet; `cancel_all` waits for every task."""
    reported = []
    tasks = TaskSet("owner", on_failure=lambda task, error: reported.append(error))
    forever = tasks.spawn(asyncio.Event().wait(), "forever")
    done = tasks.spawn(asyncio.sleep(0), "done")
    await done
    await tasks.cancel_all()
    await asyncio.sleep(0)
    assert forever.cancelled() and reported == [] and len(tasks) == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
