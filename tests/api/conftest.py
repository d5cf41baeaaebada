"""Fixtures for the REST API tests: people, service clients and API clients signed in as each."""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from notifications.models import ServiceClient
from notifications.store import actions


@pytest.fixture
def make_user(db):
    def make(username: str, **extra):
        # No password: hashing one costs a tenth of a second, and the tests sign in with force_login.
        return get_user_model().objects.create_user(username=username, password=None, **extra)

    return make


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def bob(make_user):
    return make_user("bob")


@pytest.fixture
def staff(make_user):
    return make_user("staff", is_staff=True)


@pytest.fixture
def signed_in():
    """Return a function giving an APIClient with the user's session (CSRF not enforced)."""

    def sign_in(user, enforce_csrf_checks: bool = False) -> APIClient:
        client = APIClient(enforce_csrf_checks=enforce_csrf_checks)
        client.force_login(user)
        return client

    return sign_in


@pytest.fixture
def make_service(db):
    """Return a function creating a service client; it returns (client, raw token)."""

    def make(name: str = "worker", publish: bool = False, broadcast: bool = False, active: bool = True):
        client = ServiceClient(name=name, can_publish=publish, can_broadcast=broadcast, is_active=active)
        token = client.set_new_token()
        client.save()
        return client, token

    return make


def _token_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.fixture
def token_client():
    """Return a function giving an APIClient that sends `Authorization: Token <token>`."""
    return _token_client


@pytest.fixture
def publisher(make_service) -> APIClient:
    """An APIClient authenticated as a service with the publish permission."""
    return _token_client(make_service("publisher", publish=True)[1])


@pytest.fixture
def broadcaster(make_service) -> APIClient:
    """An APIClient authenticated as a service with the broadcast permission only."""
    return _token_client(make_service("broadcaster", broadcast=True)[1])


@pytest.fixture
def powerless(make_service) -> APIClient:
    """An APIClient authenticated as a service with no permission."""
    return _token_client(make_service("powerless")[1])


@pytest.fixture
def alice_request(alice):
    """A queued request of alice's (with its first status event)."""
    tracked, _ = actions.do_create_request(alice, "Export", external_id="job-1")
    return tracked
