"""`request` frames for this service's own /api/v1/ views, through the JSON adapter on channels' communicator."""

import asyncio

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from notifications.checks import check_gateway_settings
from notifications.realtime.gateway import upstream
from tests.sockets import make_user, publish, signed_in_socket

pytestmark = pytest.mark.django_db(transaction=True)


async def request(communicator, ref: str, **fields) -> dict:
    """Send a `request` frame and return the `response` or `error` frame carrying its ref."""
    await communicator.send_json_to({"type": "request", "ref": ref, **fields})
    for _ in range(20):
        frame = await communicator.receive_json_from(timeout=5)
        if frame.get("ref") == ref and frame["type"] in ("response", "error"):
            return frame
    raise AssertionError(f"no answer to {ref}")


async def test_a_get_runs_the_view_as_the_socket_user(hub):
    """GET /api/v1/requests/ lists the socket user's own requests only, paginated as over HTTP."""
    ada, bob = await make_user("ada"), await make_user("bob")
    mine, _ = await publish(ada, title="Mine")
    theirs, _ = await publish(bob, title="Theirs")
    communicator, _ = await signed_in_socket(ada)
    answer = await request(communicator, "r1", method="GET", path="/api/v1/requests/")
    assert answer["type"] == "response" and answer["status"] == 200
    assert [item["id"] for item in answer["body"]["results"]] == [str(mine.id)]
    other = await request(communicator, "r2", method="GET", path=f"/api/v1/requests/{theirs.id}/")
    assert other["status"] == 404 and other["body"]["code"] == "not_found"
    await communicator.disconnect()


async def test_a_post_needs_no_csrf_and_a_missing_route_is_404(hub):
    """POST creates a request for the socket user without a CSRF token; an unknown API path answers 404."""
    ada = await make_user("ada")
    communicator, _ = await signed_in_socket(ada)
    created = await request(communicator, "c", method="POST", path="/api/v1/requests/", body={"title": "By socket"})
    assert created["status"] == 201 and created["body"]["title"] == "By socket"
    missing = await request(communicator, "m", method="GET", path="/api/v1/nothing-here/")
    assert missing["status"] == 404 and missing["body"]["code"] == "not_found"
    forbidden = await request(communicator, "f", method="GET", path="/admin/")
    assert forbidden["type"] == "error" and forbidden["code"] == "forbidden"
    alive = await request(communicator, "p", method="GET", path="/api/v1/requests/")
    assert alive["status"] == 200
    await communicator.disconnect()


def test_upstreams_without_a_readable_key_fail_the_check(tmp_path):
    """A configured upstream with no key file, a bad one, or a malformed pair is notifications.E002."""
    for upstreams, key_file in (
        (["billing=http://127.0.0.1:1/"], ""),
        (["billing=http://127.0.0.1:1/"], str(tmp_path / "missing.pem")),
        (["billing"], ""),
    ):
        with override_settings(NOTIFY_GATEWAY_UPSTREAMS=upstreams, NOTIFY_GATEWAY_PRIVATE_KEY_FILE=key_file):
            assert [message.id for message in check_gateway_settings()] == ["notifications.E002"]
            with pytest.raises(SystemCheckError, match="notifications.E002"):
                call_command("check")
    with override_settings(NOTIFY_GATEWAY_UPSTREAMS=[], NOTIFY_GATEWAY_PRIVATE_KEY_FILE=""):
        assert check_gateway_settings() == []


async def test_closing_the_socket_cancels_its_requests_in_flight(hub, monkeypatch, settings):
    """An upstream call still running when the socket closes is cancelled with the session's tasks."""
    settings.NOTIFY_GATEWAY_UPSTREAMS = ["slow=http://127.0.0.1:9/"]
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def held(*args):
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    monkeypatch.setattr(upstream, "call", held)
    communicator, _ = await signed_in_socket(await make_user("ada"))
    await communicator.send_json_to({"type": "request", "ref": "s", "method": "GET", "path": "/x", "service": "slow"})
    await asyncio.wait_for(started.wait(), 5)
    await communicator.disconnect()
    await asyncio.wait_for(cancelled.wait(), 5)
