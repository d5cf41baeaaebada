"""Catch-up by state over real daphne: a coalesced resume sends each request's latest event and every announcement."""

import json

from .harness import connect_ws, recv_json, recv_until

REQUESTS = 10
STEPS = 100  # events per request while the client is away: 1,000 in all
FINISHED = {0: "succeeded", 1: "succeeded", 2: "succeeded", 3: "failed", 4: "cancelled"}
ANNOUNCEMENTS = ["Maintenance at noon", "Maintenance done", "New reports"]


def _steps(request_ids: list[str]) -> list[dict]:
    """Return every event of the gap, step by step over all requests: 99 progress steps, then the last."""
    events = []
    for step in range(1, STEPS + 1):
        for index, request_id in enumerate(request_ids):
            if step == STEPS and index in FINISHED:
                events.append({"request": request_id, "status": FINISHED[index]})
            else:
                events.append({"request": request_id, "status": "processing", "progress": min(step, 99)})
    return events


def _publish_gap(service, publisher) -> list[str]:
    """Publish the requests' gap of events in batches, with the announcements in between; return the request ids."""
    request_ids = []
    for index in range(REQUESTS):
        answer = publisher.post_json("/api/v1/requests/", {"title": f"Report {index}", "user": "ada"})
        assert answer.status_code == 201, answer.text
        request_ids.append(answer.json()["id"])
    events = _steps(request_ids)
    for start, title in zip(range(0, len(events), 500), ANNOUNCEMENTS, strict=False):
        answer = publisher.post_json("/api/v1/events/batch/", {"events": events[start : start + 500]})
        assert answer.status_code == 202, answer.text
        assert publisher.post_json("/api/v1/broadcasts/", {"title": title}).status_code == 202
    assert publisher.post_json("/api/v1/broadcasts/", {"title": ANNOUNCEMENTS[-1]}).status_code == 202
    return request_ids


async def _resume(service, instance, cursor: str, *, coalesce: bool) -> tuple[list[dict], dict]:
    """Connect as ada, resume from `cursor`; return the events before `replayed`, and `replayed`."""
    ada = service.session("ada", instance)
    async with connect_ws(instance, headers={"Cookie": ada.cookie_header()}) as ws:
        assert (await recv_json(ws))["type"] == "welcome"
        await ws.send(json.dumps({"type": "resume", "cursor": cursor, "coalesce": coalesce, "ref": "r1"}))
        skipped: list[dict] = []
        replayed = await recv_until(ws, lambda frame: frame["type"] == "replayed", timeout=30, skipped=skipped)
    return [frame for frame in skipped if frame["type"] == "event"], replayed


async def test_a_gap_of_a_thousand_events_over_ten_requests_comes_back_as_their_latest_states(service):
    """Ten latest events (finished ones terminal) and the announcements in cursor order; a plain resume stays exact."""
    ada = service.session("ada", service.a)
    async with connect_ws(service.a, headers={"Cookie": ada.cookie_header()}) as ws:
        start = (await recv_json(ws))["cursor"]
    with service.publisher(service.a) as publisher:
        request_ids = _publish_gap(service, publisher)

    events, replayed = await _resume(service, service.b, start, coalesce=True)

    requests = [event for event in events if event["kind"] == "request.status"]
    assert [event["request"]["id"] for event in requests] == request_ids  # the last step went out in this order
    assert [event["request"]["status"] for event in requests] == [
        FINISHED.get(index, "processing") for index in range(REQUESTS)
    ]
    assert [event["title"] for event in events if event["kind"] == "announcement"] == ANNOUNCEMENTS
    cursors = [event["cursor"] for event in events]
    assert cursors == sorted(set(cursors))
    own_events_in_gap = REQUESTS * (STEPS + 1)  # each request's creation, then its steps
    assert replayed["count"] == REQUESTS + len(ANNOUNCEMENTS)
    assert replayed["coalesced"] == own_events_in_gap - REQUESTS
    assert replayed["cursor"] == cursors[-1]

    everything, plain = await _resume(service, service.a, start, coalesce=False)

    assert plain["count"] == own_events_in_gap + len(ANNOUNCEMENTS) and "coalesced" not in plain
    assert len({event["id"] for event in everything}) == len(everything) == plain["count"]
    assert [event["cursor"] for event in everything] == sorted(event["cursor"] for event in everything)
    assert plain["cursor"] == replayed["cursor"]
