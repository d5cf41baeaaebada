"""The REST edge on real daphne instances: poison bodies are refused and harm no stream; one key, one event."""

import json
import threading

import httpx

from tests.faults.load import create_request
from tests.integration.harness.stream import StreamFollower

POISON_DATA = {
    "lone surrogate": '{"k": "\\ud800"}',
    "overflowing number": '{"k": 1e400}',
    "NaN": '{"k": NaN}',
    "NUL": '{"k": "a\\u0000b"}',
}


def post_raw(publisher, path: str, text: str, **headers: str) -> httpx.Response:
    """POST JSON text exactly as given, so `\\ud800`, `1e400` and `NaN` reach daphne literally."""
    return publisher.http.post(path, content=text.encode(), headers={"Content-Type": "application/json", **headers})


def status_text(request_id: str, data_text: str, status: str = "processing") -> str:
    return f'{{"request": "{request_id}", "status": "{status}", "data": {data_text}}}'


async def test_poison_bodies_answer_400_and_the_stream_still_works(service):
    """Lone surrogates, 1e400, NaN, NUL and 20,000-deep nesting answer JSON 400s naming the field, store nothing,
    and afterwards the owner's REST stream and a socket resume on the other instance serve every good event."""
    ada = StreamFollower(service.session("ada"))
    await ada.connect(service.a)
    await ada.disconnect()
    with service.publisher(service.a) as publisher:
        request_id = create_request(publisher, "ada", "Export")
        for name, data_text in POISON_DATA.items():
            refused = post_raw(publisher, "/api/v1/events/", status_text(request_id, data_text))
            assert refused.status_code == 400, (name, refused.text)
            assert refused.json()["detail"].startswith("data.k: "), (name, refused.text)
        deep = "[" * 20_000 + "]" * 20_000
        refused = post_raw(publisher, "/api/v1/events/", status_text(request_id, deep))
        assert refused.status_code == 400
        assert refused.headers["content-type"].startswith("application/json")
        good = post_raw(publisher, "/api/v1/events/", status_text(request_id, '{"k": 1}'))
        assert good.status_code == 202, good.text

    page = service.session("ada").get("/api/v1/notifications/")
    assert page.status_code == 200
    stored = [event["id"] for event in page.json()["results"]]
    assert len(stored) == 2  # the request's first event and the good one
    history = service.session("ada").get(f"/api/v1/requests/{request_id}/events/")
    assert history.status_code == 200
    assert [event["id"] for event in history.json()["results"]] == stored[::-1]

    replayed = await ada.connect(service.b)
    assert replayed["count"] == 2
    assert ada.ids == stored[::-1]
    assert ada.events[-1]["data"] == {"k": 1}
    await ada.disconnect()


def test_concurrent_publishes_with_one_key_on_two_instances_store_one_event(service):
    """The same publish with one Idempotency-Key sent to both instances at once: one event, one answer twice.

    Run with DATABASE_URL=postgres://... for real row-level concurrency."""
    with service.publisher(service.a) as publisher:
        request_id = create_request(publisher, "ada", "Race")
    body = json.dumps({"request": request_id, "status": "succeeded", "message": "once"})
    start = threading.Barrier(4)
    answers: list[httpx.Response] = []

    def send(instance):
        with service.publisher(instance) as client:
            start.wait(timeout=10)
            answers.append(post_raw(client, "/api/v1/events/", body, **{"Idempotency-Key": "race-1"}))

    threads = [threading.Thread(target=send, args=(instance,)) for instance in (service.a, service.b) * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert [answer.status_code for answer in answers] == [202] * 4, [answer.text for answer in answers]
    assert len({answer.json()["id"] for answer in answers}) == 1
    assert sum(answer.headers.get("Idempotent-Replayed") != "true" for answer in answers) == 1
    history = service.session("ada").get(f"/api/v1/requests/{request_id}/events/").json()["results"]
    assert len(history) == 2
