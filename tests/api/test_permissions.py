"""Who may call what: services by permission, people by sign-in and staff status."""

import pytest
from django.urls import reverse

from notifications.api.permissions import has_service_permission
from notifications.models import ServiceClient

pytestmark = pytest.mark.django_db


def test_service_without_publish_is_403_on_events(powerless, alice_request):
    """A valid token lacking the publish permission answers 403 naming the permission."""
    body = {"request": str(alice_request.id), "status": "processing"}
    response = powerless.post(reverse("api:event-publish"), body, format="json")
    assert response.status_code == 403
    assert response.json() == {
        "detail": "This service token lacks the publish permission.",
        "code": "permission_denied",
    }


def test_broadcast_permission_does_not_grant_publish(broadcaster, alice_request):
    """Permissions are separate: a broadcaster cannot publish request events."""
    body = {"request": str(alice_request.id), "status": "processing"}
    assert broadcaster.post(reverse("api:event-publish"), body, format="json").status_code == 403


def test_publish_permission_does_not_grant_broadcast(publisher):
    """Permissions are separate: a publisher cannot broadcast."""
    assert publisher.post(reverse("api:broadcast"), {"title": "Hi"}, format="json").status_code == 403


def test_signed_in_user_cannot_publish_events(signed_in, alice, alice_request):
    """Status events come from services only, even for the user's own request."""
    body = {"request": str(alice_request.id), "status": "succeeded"}
    assert signed_in(alice).post(reverse("api:event-publish"), body, format="json").status_code == 403


def test_non_staff_user_cannot_broadcast(signed_in, alice):
    """Announcements are for staff and broadcasting services."""
    assert signed_in(alice).post(reverse("api:broadcast"), {"title": "Hi"}, format="json").status_code == 403


@pytest.mark.parametrize("route", ["api:notification-list", "api:presence"])
def test_services_are_not_signed_in_users(publisher, route):
    """A service token is no person: it has no stream and sees no presence."""
    assert publisher.get(reverse(route)).status_code == 403


def test_service_without_publish_cannot_create_requests(powerless, alice):
    """Creating a request for a user takes the publish permission."""
    body = {"title": "Export", "user": "alice"}
    assert powerless.post(reverse("api:request-list"), body, format="json").status_code == 403


def test_unknown_permission_name_is_a_programming_error():
    """Asking for a permission that does not exist raises instead of answering False."""
    with pytest.raises(ValueError, match="Unknown service permission"):
        has_service_permission(ServiceClient(name="x"), "admin")
