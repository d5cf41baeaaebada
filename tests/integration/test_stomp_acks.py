"""STOMP ACK as read (PROTOCOL 4.1): it marks the user's events read as a JSON `ack` does, on every socket.

Ada's STOMP socket is on instance A; her JSON socket and the publishing are
on instance B, so the read mark crosses the broker to reach the JSON socket.
"""

import json

import pytest

from .harness import of_type, recv_until
from .two_instances import TwoInstances, connected, deployed, frame

USERS = ["ada", "bob"]


@pytest.fixture(scope="module")
def service(tmp_path_factory, amqp_url, static_files):
    yield from deployed(tmp_path_factory, amqp_url, "stomp-acks", USERS)


def publish_three(service: TwoInstances, username: str) -> None:
    """Create a request and report on it twice: three events for the user."""
    publisher = service.publisher()
    answer = publisher.post_json("/api/v1/requests/", {"title": "Export", "user": username})
    assert answer.status_code == 201, answer.text
    for progress in (10, 20):
        body = {"request": answer.json()["id"], "status": "processing", "progress": progress}
        reported = publisher.post_json("/api/v1/events/", body)
        assert reported.status_code == 202, reported.text


async def json_socket(service: TwoInstances, username: str):
    """Open a section-1 socket on B, resumed at the head, and return it."""
    session = service.session(username, service.b)
    ws = await session.websocket(instance=service.b)
    welcome = json.loads(await ws.recv())
    await ws.send(json.dumps({"type": "resume", "cursor": welcome["cursor"]}))
    await recv_until(ws, of_type("replayed"))
    return ws, session


async def test_a_stomp_ack_marks_read_and_the_users_json_socket_on_the_other_instance_gets_read(service):
    """ACK of the second of three MESSAGEs: `read` up to it with unread 1 on the JSON socket, and over REST."""
    stomp = await connected(service, "ada")
    headers = {"id": "0", "destination": "/user/queue/notifications", "ack": "client-individual", "receipt": "s"}
    await stomp.ws.send(frame("SUBSCRIBE", headers))
    assert (await stomp.next()).command == "RECEIPT"
    ws, session = await json_socket(service, "ada")
    publish_three(service, "ada")
    messages = [await stomp.next() for _ in range(3)]
    assert [m.command for m in messages] == ["MESSAGE"] * 3
    second = messages[1]
    await stomp.ws.send(frame("ACK", {"id": second.get("ack"), "receipt": "r1"}))
    receipt = await stomp.next()
    assert (receipt.command, receipt.get("receipt-id")) == ("RECEIPT", "r1")
    read = await recv_until(ws, of_type("read"))
    assert read == {"type": "read", "up_to": second.get("message-id"), "unread": 1}
    assert session.get("/api/v1/notifications/").json()["unread"] == 1
    await ws.close()


async def test_an_ack_of_another_users_event_is_refused_and_marks_nothing(service):
    """Bob ACKs one of Ada's events: ERROR then close (STOMP has no error a connection survives); Ada's marks stay."""
    ada = await connected(service, "ada")
    await ada.ws.send(frame("SUBSCRIBE", {"id": "0", "destination": "/user/queue/notifications", "ack": "client"}))
    ada_session = service.session("ada", service.b)
    before = ada_session.get("/api/v1/notifications/").json()["unread"]
    publish_three(service, "ada")
    adas = [await ada.next() for _ in range(3)]
    bob = await connected(service, "bob")
    await bob.ws.send(frame("ACK", {"id": adas[-1].get("ack")}))
    message, code = await bob.error_then_close()
    assert code == 1008 and message
    assert ada_session.get("/api/v1/notifications/").json()["unread"] == before + 3
