"""MQTT 3.1.1 section 3.1.4 on two real instances: a second CONNECT with a client id takes over the first.

The older connection is closed wherever it is (here through the broker, from
B to A), and a persistent session goes on on the new connection from where
the old one stopped: nothing lost, nothing sent twice. Paho is the client.
"""

import queue
import uuid

import pytest

from .test_mqtt import WAIT_SECS, Paho, payloads, ticket_of
from .two_instances import TwoInstances, deployed

USERS = ["ada", "bob"]


@pytest.fixture(scope="module")
def service(tmp_path_factory, amqp_url, static_files):
    yield from deployed(tmp_path_factory, amqp_url, "mqtt-takeover", USERS)


def paho(service: TwoInstances, instance, username: str, client_id: str, clean: bool) -> Paho:
    """A Paho client that does not reconnect by itself while the test runs (a taken-over one would take back)."""
    client = Paho(instance, client_id=client_id, clean=clean, ticket=ticket_of(service, username, instance))
    client.client.reconnect_delay_set(min_delay=120, max_delay=240)
    return client


def publish(service: TwoInstances, username: str, count: int) -> list[str]:
    """Create a request for the user, then report on it: `count` events in all; return their ids in order."""
    publisher = service.publisher()
    answer = publisher.post_json("/api/v1/requests/", {"title": "Sync", "user": username})
    assert answer.status_code == 201, answer.text
    request_id = answer.json()["id"]
    ids = []
    for progress in range(1, count):
        body = {"request": request_id, "status": "processing", "progress": progress}
        reported = publisher.post_json("/api/v1/events/", body)
        assert reported.status_code == 202, reported.text
        ids.append(reported.json()["id"])
    return ids


def test_a_connect_on_the_other_instance_takes_over_and_the_persistent_session_goes_on_exactly(service):
    """Same user and client id on B: the connection on A is closed, session present, only later events follow."""
    client_id = "ada-tablet-" + uuid.uuid4().hex[:6]
    first = paho(service, service.a, "ada", client_id, clean=False)
    assert first.connect() == (False, 0)
    assert first.subscribe(("notify/me/events", 0)) == [0]
    publish(service, "ada", 3)
    before = [event["id"] for event in payloads(first.receive(3))]
    second = paho(service, service.b, "ada", client_id, clean=False)
    assert second.connect() == (True, 0)
    first.disconnects.get(timeout=WAIT_SECS)
    later = publish(service, "ada", 3)
    received = [event["id"] for event in payloads(second.receive(3))]
    second.assert_no_message(1.0)
    assert len(received) == 3 and not set(received) & set(before), "nothing the first connection had again"
    assert received[1:] == later, "every later event, in order, on the new connection"
    with pytest.raises(queue.Empty):
        first.messages.get(timeout=0.5)
    second.stop()
    first.client.loop_stop()


def test_a_connect_on_the_same_instance_takes_over_but_not_another_users_client_of_that_id(service):
    """Clean sessions on A: Ada's older connection closes, Bob's with the same client id stays and receives."""
    client_id = "shared-id-" + uuid.uuid4().hex[:6]
    bob = paho(service, service.a, "bob", client_id, clean=True)
    assert bob.connect() == (False, 0)
    assert bob.subscribe(("notify/me/events", 1)) == [1]
    first = paho(service, service.a, "ada", client_id, clean=True)
    assert first.connect() == (False, 0)
    second = paho(service, service.a, "ada", client_id, clean=True)
    assert second.connect() == (False, 0)
    first.disconnects.get(timeout=WAIT_SECS)
    assert second.subscribe(("notify/me/events", 1)) == [1]
    publish(service, "ada", 1)
    publish(service, "bob", 1)
    assert len(second.receive(1)) == 1
    assert len(bob.receive(1)) == 1
    with pytest.raises(queue.Empty):
        bob.disconnects.get(timeout=0.5)
    for client in (first, second, bob):
        client.client.loop_stop()
