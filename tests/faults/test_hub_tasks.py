"""The hub's background tasks outlive a database error (the database may go away at any moment)."""

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.db import OperationalError

from notifications.store import actions, outbox
from tests.sockets import make_user, receive_until, signed_in_socket

pytestmark = pytest.mark.django_db(transaction=True)


async def test_live_fan_out_survives_a_database_error_while_recording_a_send(hub, monkeypatch):
    """One failed `mark_fanned_out` (database gone for a moment) must not stop this process's live fan-out."""
    user = await make_user("ada")
    communicator, welcome = await signed_in_socket(user, resume=None)
    await communicator.send_json_to({"type": "resume", "cursor": welcome["cursor"]})
    await receive_until(communicator, "replayed")
    real_mark = outbox.mark_fanned_out
    failures = []

    def mark_while_the_database_blinks(positions):
        if not failures:
            failures.append(positions)
            raise OperationalError("server closed the connection unexpectedly")
        return real_mark(positions)

    monkeypatch.setattr(outbox, "mark_fanned_out", mark_while_the_database_blinks)
    tracked, _ = await database_sync_to_async(actions.do_create_request)(user, "Blink")
    await receive_until(communicator, "event")
    for _ in range(40):  # the hub records the send just after the socket got it
        if failures:
            break
        await asyncio.sleep(0.05)
    assert failures, "the send was never recorded"
    assert not any(task.done() for task in hub._tasks), "a hub task died of the database error"

    await database_sync_to_async(actions.do_publish_status)(tracked.id, "processing", 10, "")
    frame = await communicator.receive_json_from(timeout=1.5)  # live; the outbox sweep would take 2 s or more
    assert frame["type"] == "event" and frame["request"]["progress"] == 10
    await communicator.disconnect()
