"""Publishing through RabbitMQ (PROTOCOL 5.3) with a stock AMQP client (pika) against real daphne instances.

Each deployment gets its own ingress exchange (NOTIFY_INGRESS_EXCHANGE), so its
queue `<exchange>.events` and `<exchange>.rejected` never meet another run's
on the shared broker; they are deleted afterwards. RabbitMQ checks `user_id`
against the publishing connection's user, so the service client is `guest`.
"""

import asyncio
import json
import secrets
import time
import uuid

import pika
import pika.exceptions
import pytest

from .harness import TokenClient, UserSession, assert_silent
from .harness.stream import StreamFollower
from .ingress_client import Publisher, RejectedTap, delete_ingress, parameters

PASSWORD = "correct-horse-battery"
MAX_BODY_BYTES = 4096
WAIT_SECS = 60

CREATE_REQUESTS_SCRIPT = """
import json, os
from django.contrib.auth import get_user_model
from notifications.store import actions
owner = get_user_model().objects.get(username=os.environ["IT_OWNER"])
print(json.dumps([str(actions.do_create_request(owner, f"job {n}")[0].id) for n in range(int(os.environ["IT_COUNT"]))]))
"""

STATUSES_SCRIPT = """
import json
from notifications.models import Event
statuses = {}
for event in Event.objects.filter(kind="request.status").order_by("position"):
    statuses.setdefault(event.payload["request"]["id"], []).append(event.payload["request"]["status"])
print(json.dumps(statuses))
"""


@pytest.fixture
def ingress_deployment(make_deployment, amqp_url):
    exchange = "it.notify.ingress." + secrets.token_hex(6)
    env = {
        "NOTIFY_INGRESS_EXCHANGE": exchange,
        "NOTIFY_INGRESS_CONSUMER": "1",
        "NOTIFY_INGRESS_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
    }
    deployment = make_deployment(extra_env=env)
    deployment.exchange = exchange
    deployment.create_user("ada", PASSWORD)
    yield deployment
    delete_ingress(amqp_url, exchange)


def create_requests(deployment, count: int) -> list[str]:
    env = deployment.env(IT_OWNER="ada", IT_COUNT=str(count))
    return json.loads(deployment.manage("shell", "--no-imports", "-c", CREATE_REQUESTS_SCRIPT, env=env))


def stored_statuses(deployment) -> dict[str, list[str]]:
    return json.loads(deployment.manage("shell", "--no-imports", "-c", STATUSES_SCRIPT))


def wait_for_consumers(amqp_url: str, exchange: str, count: int, timeout: float = 30) -> None:
    """Return once `count` consumers read the ingress queue (so it exists and is bound); fail after `timeout`."""
    connection = pika.BlockingConnection(parameters(amqp_url))
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            channel = connection.channel()
            try:
                if channel.queue_declare(f"{exchange}.events", passive=True).method.consumer_count >= count:
                    return
                channel.close()
            except pika.exceptions.ChannelClosedByBroker:
                pass  # not declared yet
            connection.sleep(0.2)
    finally:
        connection.close()
    raise AssertionError(f"{count} ingress consumers not there within {timeout}s")


def processing(request_id: str, **fields) -> dict:
    return {"request": request_id, "status": "processing", **fields}


def status_events(follower: StreamFollower, status: str = "processing") -> list[dict]:
    return [e for e in follower.events if e["kind"] == "request.status" and e["request"]["status"] == status]


async def test_events_reach_the_users_sockets_on_two_instances_once_per_message_id(ingress_deployment):
    """Each message published twice is stored once; a key used first over REST is the same key over AMQP.

    30 requests, each reported twice with one message_id, plus the REST
    POST's Idempotency-Key sent again as a message_id with the same body:
    ada's sockets on both instances get 31 events, each once, and the
    database holds one `processing` event per message.
    """
    deployment = ingress_deployment
    token = deployment.create_service_token("guest", "publish")
    ids = create_requests(deployment, 30)
    a, b = deployment.instance("A"), deployment.instance("B")
    await asyncio.to_thread(wait_for_consumers, deployment.amqp_url, deployment.exchange, 2)
    followers = [StreamFollower(UserSession(a, "ada", PASSWORD).login()) for _ in (a, b)]
    for follower, instance in zip(followers, (a, b), strict=True):
        await follower.connect(instance)
    first = processing(ids[0], progress=10, message="over REST")
    with TokenClient(a, token) as rest:
        assert rest.post_json("/api/v1/events/", first, headers={"Idempotency-Key": "shared-key"}).status_code == 202

    def publish_all() -> None:
        publisher = Publisher(deployment.amqp_url, deployment.exchange)
        publisher.publish(first, "shared-key")
        for n, request_id in enumerate(ids):
            for _ in range(2):
                publisher.publish(processing(request_id, progress=50, message=f"m{n}"), f"m-{n}")
        publisher.close()

    await asyncio.to_thread(publish_all)
    for follower in followers:
        await follower.read_until_count(31, WAIT_SECS)
        await assert_silent(follower.ws, 2)
        events = status_events(follower)
        assert len(events) == len({e["id"] for e in events}) == 31
        assert sorted(e["message"] for e in events) == sorted(["over REST"] + [f"m{n}" for n in range(30)])
    statuses = stored_statuses(deployment)
    assert statuses[ids[0]] == ["queued", "processing", "processing"]
    assert all(statuses[request_id] == ["queued", "processing"] for request_id in ids[1:])


def refusal_cases(ids: list[str]) -> list[tuple[int, str, bytes | dict, dict]]:
    """(status, message_id, body, publish options) of every refusal, in publishing order (guest may publish)."""
    nan = f'{{"request": "{ids[0]}", "status": "processing", "progress": NaN}}'.encode()
    surrogate = f'{{"request": "{ids[0]}", "status": "processing", "message": "\\ud800"}}'.encode()
    return [
        (403, "no-user", processing(ids[0]), {"user_id": None}),
        (400, None, processing(ids[0]), {}),
        (400, "not-json", b"{not json", {}),
        (400, "nan", nan, {}),
        (400, "surrogate", surrogate, {}),
        (400, "too-large", processing(ids[0], message="x" * MAX_BODY_BYTES), {}),
        (400, "bad-status", {"request": ids[0], "status": "bogus"}, {}),
        (404, "unknown-request", processing(str(uuid.uuid4())), {}),
        (409, "after-final", processing(ids[1]), {}),
        (422, "reused", processing(ids[2], progress=60), {}),
    ]


async def test_every_refusal_is_republished_with_its_status_and_the_queue_goes_on(ingress_deployment):
    """Unknown service, no permission, no user_id, no message_id, bad bodies, 404, 409, 422: each refused message
    lands on the rejected exchange with `x-notify-status`, `x-notify-detail`, its body and its properties, and the
    valid messages around them are stored."""
    deployment = ingress_deployment
    ids = create_requests(deployment, 3)
    deployment.instance("A")
    await asyncio.to_thread(wait_for_consumers, deployment.amqp_url, deployment.exchange, 1)
    tap = await asyncio.to_thread(RejectedTap, deployment.amqp_url, deployment.exchange + ".rejected")
    publisher = await asyncio.to_thread(Publisher, deployment.amqp_url, deployment.exchange)
    sent: dict[str, tuple[int, bytes | dict, dict]] = {}

    def publish(status, message_id, body, options):
        correlation = f"c-{len(sent)}"
        props = {"correlation_id": correlation, "content_type": "application/json", "headers": {"x-app": "kept"}}
        publisher.publish(body, message_id, **{**props, **options})
        sent[correlation] = (status, body, options)

    await asyncio.to_thread(publish, 403, "unknown", processing(ids[0]), {})
    refused = await asyncio.to_thread(tap.collect, 1)  # before guest exists
    deployment.create_service_token("guest")
    await asyncio.to_thread(publish, 403, "no-permission", processing(ids[0]), {})
    refused += await asyncio.to_thread(tap.collect, 1)
    deployment.create_service_token("guest", "publish")
    await asyncio.to_thread(publish, None, "final", {"request": ids[1], "status": "succeeded"}, {})
    await asyncio.to_thread(publish, None, "reused", processing(ids[2], progress=50), {})
    for case in refusal_cases(ids):
        await asyncio.to_thread(publish, *case)
    await asyncio.to_thread(publish, None, "after-refusals", processing(ids[0], message="still flowing"), {})
    refused += await asyncio.to_thread(tap.collect, len(refusal_cases(ids)))
    await asyncio.to_thread(publisher.close)
    await asyncio.to_thread(tap.close)

    assert len(refused) == len(refusal_cases(ids)) + 2
    for properties, body in refused:
        status, original, options = sent[properties.correlation_id]
        assert properties.headers["x-notify-status"] == status, (properties.message_id, properties.headers)
        assert properties.headers["x-notify-detail"]
        assert properties.headers["x-app"] == "kept" and properties.content_type == "application/json"
        assert body == (original if isinstance(original, bytes) else json.dumps(original).encode())
        assert properties.user_id == options.get("user_id", "guest")
    statuses = stored_statuses(deployment)
    assert statuses[ids[0]] == ["queued", "processing"]  # "after-refusals" only
    assert statuses[ids[1]] == ["queued", "succeeded"] and statuses[ids[2]] == ["queued", "processing"]


async def test_a_broker_cut_mid_stream_loses_nothing_and_doubles_nothing(ingress_deployment, make_proxy):
    """The consumer's broker link is cut while 400 messages flow and restored; each is stored once and delivered."""
    deployment = ingress_deployment
    deployment.create_service_token("guest", "publish")
    ids = create_requests(deployment, 400)
    host, port = deployment.amqp_url.split("@")[-1].split("/")[0].split(":")
    proxy = make_proxy(host, int(port))
    a = deployment.instance("A", amqp_url=proxy.url_through(deployment.amqp_url))
    await asyncio.to_thread(wait_for_consumers, deployment.amqp_url, deployment.exchange, 1)
    follower = StreamFollower(UserSession(a, "ada", PASSWORD).login())
    await follower.connect(a)
    publisher = await asyncio.to_thread(Publisher, deployment.amqp_url, deployment.exchange)

    def publish(part: list[str]) -> None:
        for request_id in part:
            publisher.publish(processing(request_id, message=request_id), f"m-{request_id}")

    await asyncio.to_thread(publish, ids[:200])
    await follower.read_until_count(20, WAIT_SECS)
    proxy.cut()
    await asyncio.to_thread(publish, ids[200:])
    await asyncio.to_thread(publisher.close)
    proxy.restore()
    await follower.read_until_count(400, WAIT_SECS)
    await follower.disconnect()
    await follower.connect(a)  # a resume from the last cursor: nothing was missed or is left over
    await follower.read_for(2)
    events = status_events(follower)
    assert sorted(e["message"] for e in events) == sorted(ids)
    statuses = stored_statuses(deployment)
    assert all(statuses[request_id] == ["queued", "processing"] for request_id in ids)
    log = a.log_path.read_text(errors="replace")
    assert "ingress: consuming failed" in log and log.count("ingress: consuming ") >= 2, "the cut was not seen"
