"""Fan-out across instances: two daphne processes on the real RabbitMQ broker."""

from .harness import assert_silent, expect_close, handshake_status, of_type, recv_until
from .harness.stream import StreamFollower


def create_request(publisher, username: str, title: str) -> str:
    answer = publisher.post_json("/api/v1/requests/", {"title": title, "user": username})
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def report(publisher, request_id: str, status: str, progress: int | None = None, **extra):
    body = {"request": request_id, "status": status, **extra}
    if progress is not None:
        body["progress"] = progress
    answer = publisher.post_json("/api/v1/events/", body)
    assert answer.status_code == 202, answer.text
    return answer.json()


async def test_an_event_published_on_a_reaches_the_owners_socket_on_b(service):
    """A status event posted to instance A shows up live on the owner's socket held by instance B."""
    ada = StreamFollower(service.session("ada"))
    await ada.connect(service.b)
    with service.publisher(service.a) as publisher:
        request_id = create_request(publisher, "ada", "Quarterly report")
        stored = report(publisher, request_id, "processing", 40, message="Crunching")
    await ada.read_until_count(2, timeout=10)
    queued, processing = ada.events
    assert queued["request"]["status"] == "queued"
    assert processing["id"] == stored["id"]
    assert processing["request"] == {**processing["request"], "id": request_id, "status": "processing", "progress": 40}
    assert processing["message"] == "Crunching"
    await ada.disconnect()


async def test_a_broadcast_reaches_users_on_both_instances_and_request_events_stay_private(service):
    """An announcement reaches ada on B and bob on A; bob never sees ada's request events."""
    ada, bob = StreamFollower(service.session("ada")), StreamFollower(service.session("bob"))
    await ada.connect(service.b)
    await bob.connect(service.a)
    with service.publisher(service.b) as publisher:
        request_id = create_request(publisher, "ada", "Private import")
        report(publisher, request_id, "succeeded")
        answer = publisher.post_json("/api/v1/broadcasts/", {"title": "Maintenance at 22:00", "level": "warning"})
        assert answer.status_code == 202, answer.text
    await ada.read_until_count(3, timeout=10)
    await bob.read_until_count(1, timeout=10)
    await bob.read_for(1.0)
    assert [e["kind"] for e in bob.events] == ["announcement"]
    assert bob.events[0]["title"] == "Maintenance at 22:00" and bob.events[0]["level"] == "warning"
    assert ada.events[-1]["id"] == bob.events[0]["id"]
    assert "Private import" not in str(bob.events)
    await ada.disconnect()
    await bob.disconnect()


async def test_a_foreign_origin_is_refused_with_403(service):
    """The handshake from another site's page is refused before any consumer runs."""
    session = service.session("ada")
    headers = {"Cookie": session.cookie_header()}
    assert await handshake_status(service.a, origin="http://evil.example", headers=headers) == 403
    assert await handshake_status(service.a, origin=None, headers=headers) == 403
    assert await handshake_status(service.a, headers=headers) == 101


async def test_logout_on_one_instance_closes_the_socket_on_the_other_with_4000(service):
    """Signing out through instance A ends the same session's socket held by instance B."""
    session = service.session("ada")
    ada = StreamFollower(session)
    await ada.connect(service.b)
    assert session.logout().status_code in (200, 302)
    assert await expect_close(ada.ws, timeout=10) == 4000


async def test_a_client_that_was_away_resumes_exactly_the_missed_events_in_order(service):
    """Disconnect, publish five events, reconnect elsewhere with the cursor: those five, once, in order."""
    ada = StreamFollower(service.session("ada"))
    await ada.connect(service.a)
    with service.publisher(service.a) as publisher:
        request_id = create_request(publisher, "ada", "Migration")
        await ada.read_until_count(1, timeout=10)
        await ada.disconnect()
        missed = [report(publisher, request_id, "processing", p)["id"] for p in (10, 30, 50, 70)]
        missed.append(report(publisher, request_id, "succeeded", 100)["id"])
    replayed = await ada.connect(service.b)
    assert replayed["count"] == 5
    assert ada.ids[1:] == missed
    await assert_silent(ada.ws, 1.5)
    await ada.disconnect()


async def test_ping_and_errors_over_a_real_socket(service):
    """A real client gets pong, and a malformed frame gets an error without losing the socket."""
    ada = StreamFollower(service.session("ada"))
    await ada.connect(service.a)
    await ada.ws.send("{broken")
    error = await recv_until(ada.ws, of_type("error"))
    assert error["code"] == "bad_request"
    await ada.ws.send('{"type":"ping","ts":42,"ref":"p"}')
    assert (await recv_until(ada.ws, of_type("pong")))["ts"] == 42
    await ada.disconnect()


async def test_an_event_written_by_another_process_is_sent_by_a_serving_instance(service):
    """A management command (no event loop, no layer) stores an announcement; sockets get it via the outbox."""
    ada = StreamFollower(service.session("ada"))
    await ada.connect(service.b)
    service.deployment.manage(
        "shell", "--no-imports", "-c", "from notifications.store.actions import do_broadcast; do_broadcast('From cron')"
    )
    await ada.read_until_count(1, timeout=15)
    assert ada.events[0]["title"] == "From cron"
    await ada.disconnect()
