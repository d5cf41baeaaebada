"""The delivery ledger over two real instances: each event's way to the user's sockets, read, as the API shows it."""

import asyncio
import json
import time

from .harness import connect_ws, recv_json, recv_until

LEDGER_WAIT_SECS = 15


async def _follow(service, instance):
    """Open a resumed socket of ada's on `instance`."""
    ada = service.session("ada", instance)
    ws = await connect_ws(instance, headers={"Cookie": ada.cookie_header()})
    welcome = await recv_json(ws)
    await ws.send(json.dumps({"type": "resume", "cursor": welcome["cursor"]}))
    await recv_until(ws, lambda frame: frame["type"] == "replayed")
    return ws


def _ledger_when(session, request_id: str, done) -> dict:
    """Poll the ledger until `done(entries)`; fail after LEDGER_WAIT_SECS."""
    deadline = time.monotonic() + LEDGER_WAIT_SECS
    while True:
        answer = session.get(f"/api/v1/requests/{request_id}/delivery/")
        assert answer.status_code == 200, answer.text
        entries = answer.json()["events"]
        if done(entries) or time.monotonic() > deadline:
            return entries
        time.sleep(0.3)


async def test_each_event_shows_the_sockets_of_both_instances_and_when_it_was_read(service):
    """Two sockets (A and B) receive three events; the ledger counts 2 each, json, and the read of the second."""
    sockets = [await _follow(service, service.a), await _follow(service, service.b)]
    with service.publisher(service.a) as publisher:
        answer = publisher.post_json("/api/v1/requests/", {"title": "Ledger", "user": "ada"})
        request_id = answer.json()["id"]
        for body in ({"status": "processing", "progress": 30}, {"status": "succeeded"}):
            assert publisher.post_json("/api/v1/events/", {"request": request_id, **body}).status_code == 202
    received = []
    for ws in sockets:
        frames = [await recv_until(ws, lambda frame: frame["type"] == "event", timeout=10) for _ in range(3)]
        received.append([frame["id"] for frame in frames])
    assert received[0] == received[1]
    await sockets[1].send(json.dumps({"type": "ack", "id": received[1][1]}))
    await recv_until(sockets[1], lambda frame: frame["type"] == "read")
    for ws in sockets:
        await ws.close()

    ada = service.session("ada", service.b)
    entries = await asyncio.to_thread(
        _ledger_when, ada, request_id, lambda entries: all(entry["connections"] == 2 for entry in entries)
    )

    assert [entry["id"] for entry in entries] == received[0]
    assert [entry["status"] for entry in entries] == ["queued", "processing", "succeeded"]
    for entry in entries:
        assert entry["connections"] == 2 and entry["protocols"] == ["json"]
        assert entry["fanned_out_at"] is not None
        assert entry["stored_at"] <= entry["first_delivered_at"]
    assert [entry["read_at"] is not None for entry in entries] == [True, True, False]
    with service.publisher(service.b) as publisher:
        assert publisher.get(f"/api/v1/requests/{request_id}/delivery/").status_code == 200
    bob = service.session("bob", service.a)
    assert bob.get(f"/api/v1/requests/{request_id}/delivery/").status_code == 404
