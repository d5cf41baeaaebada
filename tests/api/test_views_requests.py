"""`/api/v1/requests/`: creating tracked requests and reading their state and history."""

import secrets
import string
import uuid

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from notifications.models import Event, RequestStatus, TrackedRequest
from notifications.store import actions

pytestmark = pytest.mark.django_db

REQUEST_FIELDS = {"id", "title", "external_id", "status", "progress", "message", "created_at", "updated_at", "owner"}


def csrf_secret() -> str:
    """Return a value Django accepts as a CSRF cookie and matching header token."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(32))


def test_user_creates_a_queued_request_for_itself(signed_in, alice):
    """A signed-in user's POST answers 201 with the request, queued, owned by the user, with one event."""
    response = signed_in(alice).post(
        reverse("api:request-list"), {"title": "Export", "external_id": "j1"}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == REQUEST_FIELDS
    assert (body["title"], body["external_id"], body["status"], body["owner"]) == ("Export", "j1", "queued", "alice")
    tracked = TrackedRequest.objects.get(pk=body["id"])
    assert tracked.owner == alice
    assert tracked.events.count() == 1


def test_session_post_without_csrf_token_is_403(alice):
    """With CSRF enforced, a session POST lacking the token is refused and creates nothing."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post(reverse("api:request-list"), {"title": "Export"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert not TrackedRequest.objects.exists()


def test_session_post_with_csrf_token_is_201(alice):
    """With CSRF enforced, the same POST carrying the cookie's token succeeds."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(alice)
    token = csrf_secret()
    client.cookies["csrftoken"] = token
    response = client.post(reverse("api:request-list"), {"title": "Export"}, format="json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 201


def test_service_creates_a_request_for_the_named_user(publisher, alice):
    """A publishing service names the owner in `user`."""
    response = publisher.post(reverse("api:request-list"), {"title": "Export", "user": "alice"}, format="json")
    assert response.status_code == 201
    assert response.json()["owner"] == "alice"


@pytest.mark.parametrize("body", [{"title": "Export"}, {"title": "Export", "user": "nobody"}])
def test_service_must_name_an_existing_user(publisher, body):
    """A service's POST without `user`, or naming no one, answers 400 naming `user`."""
    response = publisher.post(reverse("api:request-list"), body, format="json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("user: ")
    assert "user" in response.json()["errors"]


def test_service_cannot_act_for_an_inactive_user(publisher, make_user):
    """A deactivated account counts as unknown."""
    make_user("gone", is_active=False)
    response = publisher.post(reverse("api:request-list"), {"title": "Export", "user": "gone"}, format="json")
    assert response.status_code == 400


def test_user_cannot_create_for_someone_else(signed_in, alice, bob):
    """A person naming another user answers 403; naming itself is fine."""
    client = signed_in(alice)
    assert client.post(reverse("api:request-list"), {"title": "X", "user": "bob"}, format="json").status_code == 403
    assert client.post(reverse("api:request-list"), {"title": "X", "user": "alice"}, format="json").status_code == 201
    assert not TrackedRequest.objects.filter(owner=bob).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": "x", "external_id": "y" * 201}, "external_id"),
    ],
)
def test_bad_body_is_400_naming_the_field(signed_in, alice, body, field):
    """A missing, blank or over-long field answers 400 whose detail names it."""
    response = signed_in(alice).post(reverse("api:request-list"), body, format="json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith(f"{field}: ")
    assert field in response.json()["errors"]


def test_anonymous_cannot_create(alice):
    """Without a session or token the API answers 401."""
    assert APIClient().post(reverse("api:request-list"), {"title": "X"}, format="json").status_code == 401


def test_user_lists_only_its_own_requests(signed_in, alice, bob):
    """Each user's list holds its own requests, newest first, and nobody else's."""
    actions.do_create_request(alice, "A1")
    actions.do_create_request(alice, "A2")
    actions.do_create_request(bob, "B1")
    response = signed_in(alice).get(reverse("api:request-list"))
    assert response.status_code == 200
    assert [r["title"] for r in response.json()["results"]] == ["A2", "A1"]
    assert response.json()["count"] == 2


@pytest.mark.parametrize("caller", ["staff", "publisher"])
def test_staff_and_publishing_services_list_everyone(request, signed_in, alice, bob, caller):
    """Staff and services (which act for users) see every user's requests."""
    actions.do_create_request(alice, "A1")
    actions.do_create_request(bob, "B1")
    client = signed_in(request.getfixturevalue("staff")) if caller == "staff" else request.getfixturevalue("publisher")
    assert client.get(reverse("api:request-list")).json()["count"] == 2


def test_owner_reads_one_request(signed_in, alice, alice_request):
    """The owner gets the request's current state."""
    response = signed_in(alice).get(reverse("api:request-detail", args=[alice_request.id]))
    assert response.status_code == 200
    assert response.json()["id"] == str(alice_request.id)


def test_another_user_gets_404_not_403(signed_in, bob, alice_request):
    """Someone else's request is indistinguishable from a missing one."""
    client = signed_in(bob)
    assert client.get(reverse("api:request-detail", args=[alice_request.id])).status_code == 404
    assert client.get(reverse("api:request-events", args=[alice_request.id])).status_code == 404


def test_staff_reads_anyones_request(signed_in, staff, alice_request):
    """Staff read every request and its history."""
    client = signed_in(staff)
    assert client.get(reverse("api:request-detail", args=[alice_request.id])).status_code == 200
    assert client.get(reverse("api:request-events", args=[alice_request.id])).status_code == 200


@pytest.mark.parametrize("pk", [uuid.uuid4(), "not-a-uuid"])
def test_unknown_or_malformed_id_is_json_404(signed_in, alice, pk):
    """An unknown id, or one that is no UUID, answers a JSON 404."""
    response = signed_in(alice).get(reverse("api:request-detail", args=[pk]))
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


def test_history_is_oldest_first_as_stored(signed_in, alice, alice_request):
    """The history lists the request's events oldest first, each exactly as stored."""
    actions.do_publish_status(alice_request.id, RequestStatus.PROCESSING, progress=50, message="Half")
    actions.do_publish_status(alice_request.id, RequestStatus.SUCCEEDED, message="Done", data={"url": "/f"})
    response = signed_in(alice).get(reverse("api:request-events", args=[alice_request.id]))
    results = response.json()["results"]
    assert [e["request"]["status"] for e in results] == ["queued", "processing", "succeeded"]
    assert results == [e.payload for e in Event.objects.filter(request=alice_request).order_by("position")]
    assert {"id", "kind", "created_at", "request", "message", "data"} <= set(results[-1])
    assert results[-1]["data"] == {"url": "/f"}
