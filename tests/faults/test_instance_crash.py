"""An instance holding 100 sockets is killed with SIGKILL while events keep coming."""

import asyncio

from tests.integration.harness import TokenClient, UserSession

from .load import (
    Client,
    Publisher,
    assert_exactly_once,
    create_request,
    create_users,
    record_fault,
    run_until_delivered,
)

USERS = 10
SOCKETS_EACH = 10
PASSWORD = "crash-test-password"


async def test_clients_of_a_killed_instance_resume_on_the_other_and_miss_nothing(deployment):
    """10 users x 10 sockets on A; A is SIGKILLed mid-stream; they reconnect to B and resume: each event once."""
    a, b = deployment.instance("A"), deployment.instance("B")
    names = [f"user{n}" for n in range(USERS)]
    create_users(deployment, names, PASSWORD)
    token = deployment.create_service_token("worker", "publish", "broadcast")
    via_b = TokenClient(b, token)
    requests = {create_request(via_b, name, f"{name} import"): name for name in names}
    publisher = Publisher([via_b], requests, count=150, rate=15)

    sessions = [UserSession(b, name, PASSWORD).login() for name in names]
    clients = [Client(session, lambda: a if a.is_running else b) for session in sessions for _ in range(SOCKETS_EACH)]
    await asyncio.gather(*(client.open() for client in clients))

    async def kill_a() -> None:
        await asyncio.sleep(3)
        await asyncio.to_thread(a.kill)

    await run_until_delivered(publisher, clients, kill_a(), timeout=120)
    tally = record_fault("instance SIGKILL (100 sockets)", publisher, clients)
    assert publisher.refused == []
    assert all(client.follower.reconnects >= 1 for client in clients), "some socket never left A"
    assert_exactly_once(tally)
    via_b.close()
