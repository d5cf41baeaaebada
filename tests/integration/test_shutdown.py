"""Graceful stop: SIGTERM closes every socket with 1001 and leaves no presence row behind."""

import asyncio

from .harness import UserSession, expect_close, recv_json
from .presence_client import per_instance, wait_for_presence

PASSWORD = "correct-horse-battery"


async def test_sigterm_closes_sockets_with_1001_and_deletes_the_instances_presence(deployment):
    """A daphne instance stopped with SIGTERM says "going away" and is gone from presence at once.

    The presence timeout is left at its 60 s default, so the rows must have
    been deleted by the instance itself, not expired.
    """
    a, b = deployment.instance("A"), deployment.instance("B")
    deployment.create_user("ada", PASSWORD)
    deployment.create_user("boss", PASSWORD, staff=True)
    ada, staff = UserSession(a, "ada", PASSWORD).login(), UserSession(a, "boss", PASSWORD).login()
    sockets = [await ada.websocket(instance=b) for _ in range(3)]
    for ws in sockets:
        assert (await recv_json(ws))["type"] == "welcome"
    await wait_for_presence(staff, lambda s: per_instance(s) == {"B": 3}, timeout=10)

    stopping = asyncio.create_task(asyncio.to_thread(b.terminate))
    codes = await asyncio.gather(*(expect_close(ws, timeout=10) for ws in sockets))
    assert codes == [1001, 1001, 1001]
    snapshot = await wait_for_presence(staff, lambda s: True, timeout=1)
    assert per_instance(snapshot) == {}, snapshot
    await stopping
    assert b.process.returncode is not None and b.process.returncode != -9, "it had to be killed"
    assert "SIGTERM: closing sockets with 1001" in b.log_tail(200)
