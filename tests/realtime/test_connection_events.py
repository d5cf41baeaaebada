"""The reason of a socket's `user.disconnected` when its adapter closes it (PROTOCOL 5.2), one process."""

import json

import pytest
from channels.db import database_sync_to_async

from notifications.models import ConnectionEvent
from tests.sockets import make_user, open_socket, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)

MQTT_CONNECT = bytes((0x10, 12, 0, 4)) + b"MQTT" + bytes((4, 2, 0, 0, 0, 0))
MQTT_PUBLISH = bytes((0x30, 5, 0, 1)) + b"t" + b"hi"
STOMP_CONNECT = "CONNECT\naccept-version:1.2\nheart-beat:0,0\n\n\x00"


async def ended(hub, communicator) -> dict:
    """Deliver the client's side of the close, store the queued events, and return the one disconnect."""
    await communicator.disconnect()
    await hub.presence.flush()
    bodies = await database_sync_to_async(list)(ConnectionEvent.objects.filter(type="user.disconnected"))
    (body,) = [json.loads(event.body) for event in bodies]
    return body


async def close_code_after(communicator, message: dict) -> int:
    await communicator.send_to(**message)
    while (output := await communicator.receive_output(5))["type"] != "websocket.close":
        pass
    return output["code"]


async def test_an_mqtt_publish_from_the_client_is_refused_not_the_clients_close(hub):
    """MQTT closes 1008 for a client PUBLISH: `refused`, 1008, protocol mqtt."""
    communicator, accepted, _ = await open_socket(await session_cookie(await make_user("ada")), path="/mqtt")
    assert accepted
    await communicator.send_to(bytes_data=MQTT_CONNECT)
    assert await communicator.receive_output(5) == {"type": "websocket.send", "bytes": bytes((0x20, 2, 0, 0))}
    assert await close_code_after(communicator, {"bytes_data": MQTT_PUBLISH}) == 1008
    body = await ended(hub, communicator)
    assert (body["code"], body["reason"], body["protocol"]) == (1008, "refused", "mqtt")


async def test_a_stomp_error_then_close_is_refused_and_a_disconnect_is_the_clients(hub):
    """STOMP SEND gets ERROR then 1008 (`refused`); DISCONNECT gets 1000, which is the client's (`client`)."""
    cookie = await session_cookie(await make_user("ada"))
    for frame, code, reason in (
        ("SEND\ndestination:/q\n\nhi\x00", 1008, "refused"),
        ("DISCONNECT\n\n\x00", 1000, "client"),
    ):
        await database_sync_to_async(ConnectionEvent.objects.all().delete)()
        communicator, accepted, _ = await open_socket(cookie, path="/ws/stomp/")
        assert accepted
        await communicator.send_to(text_data=STOMP_CONNECT)
        assert (await communicator.receive_output(5))["text"].startswith("CONNECTED\n")
        assert await close_code_after(communicator, {"text_data": frame}) == code
        body = await ended(hub, communicator)
        assert (body["code"], body["reason"], body["protocol"]) == (code, reason, "stomp")
