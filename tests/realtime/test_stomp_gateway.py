"""SEND to /app/request over STOMP (PROTOCOL 5.1), answered on /user/queue/replies, through the communicator."""

import json

import pytest

from notifications.protocol.stomp import gateway as stomp_gateway
from notifications.protocol.stomp.frames import StompFrame
from tests.realtime.test_stomp_socket import connected, frame
from tests.sockets import make_user, publish

pytestmark = pytest.mark.django_db(transaction=True)


def send(headers: dict[str, str], body: str = "") -> str:
    return frame("SEND", {"destination": "/app/request", **headers}, body)


async def test_a_send_is_answered_on_the_replies_subscription(hub):
    """GET /api/v1/requests/ as the socket's user: a MESSAGE with status, correlation-id and the JSON body."""
    ada = await make_user("ada")
    mine, _ = await publish(ada, title="Mine")
    client, _ = await connected(ada)
    await client.send(frame("SUBSCRIBE", {"id": "r", "destination": "/user/queue/replies"}))
    await client.send(send({"method": "GET", "path": "/api/v1/requests/", "correlation-id": "c1"}))
    message = await client.next()
    assert message.command == "MESSAGE" and message.get("subscription") == "r"
    assert message.get("status") == "200" and message.get("correlation-id") == "c1"
    assert message.get("content-type") == "application/json" and message.get("destination") == "/user/queue/replies"
    assert [item["id"] for item in json.loads(message.body)["results"]] == [str(mine.id)]
    await client.send(frame("ACK", {"id": message.get("message-id") or "x", "receipt": "ok"}))
    assert (await client.next()).command == "RECEIPT"
    await client.communicator.disconnect()


async def test_a_post_with_a_body_and_a_refused_path_keep_the_connection(hub):
    """POST with a JSON body creates (201); a path outside /api/v1/ answers 403 on the replies; a bad method 400."""
    client, _ = await connected(await make_user("ada"))
    await client.send(frame("SUBSCRIBE", {"id": "r", "destination": "/user/queue/replies"}))
    await client.send(send({"method": "POST", "path": "/api/v1/requests/", "correlation-id": "p"}, '{"title":"S"}'))
    created = await client.next()
    assert created.get("status") == "201" and json.loads(created.body)["title"] == "S"
    await client.send(send({"method": "GET", "path": "/admin/", "correlation-id": "f"}))
    forbidden = await client.next()
    assert forbidden.get("status") == "403" and json.loads(forbidden.body)["code"] == "forbidden"
    await client.send(send({"method": "BREW", "path": "/api/v1/requests/", "correlation-id": "b"}, "{"))
    bad = await client.next()
    assert bad.get("status") == "400" and bad.get("correlation-id") == "b"
    await client.communicator.disconnect()


async def test_a_send_without_a_replies_subscription_is_an_error_then_close(hub):
    """No subscription to /user/queue/replies: ERROR naming it, then the close; other destinations as before."""
    client, _ = await connected(await make_user("ada"))
    await client.send(send({"method": "GET", "path": "/api/v1/requests/"}))
    error, code = await client.error_then_close()
    assert "/user/queue/replies" in error.get("message") and code == 1008


def test_a_reply_message_carries_its_status_and_json_body():
    """The reply builder: destination, subscription, status, correlation-id, content-type and -length."""
    from notifications.protocol.gateway import Answer

    message = stomp_gateway.reply("s1", "reply-1", "c", Answer(404, None))
    assert isinstance(message, StompFrame) and message.body == b"null"
    assert dict(message.headers)["status"] == "404" and dict(message.headers)["content-length"] == "4"
