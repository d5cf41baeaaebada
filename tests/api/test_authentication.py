"""`Authorization: Token <key>`: who gets in, who gets 401, and what is recorded."""

import logging
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from notifications.models import ServiceClient

pytestmark = pytest.mark.django_db

BODY = {"title": "Hello"}


def test_missing_token_is_401_naming_the_scheme():
    """A call without credentials answers 401 with `WWW-Authenticate: Token` and a JSON detail."""
    response = APIClient().post(reverse("api:broadcast"), BODY, format="json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["code"] == "not_authenticated"


def test_unknown_token_is_401(token_client):
    """A token no client holds answers 401."""
    response = token_client("not-a-real-token").post(reverse("api:broadcast"), BODY, format="json")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid or revoked token.", "code": "authentication_failed"}


def test_revoked_token_is_401(make_service, token_client):
    """The token of a deactivated client no longer authenticates."""
    _, token = make_service(broadcast=True, active=False)
    response = token_client(token).post(reverse("api:broadcast"), BODY, format="json")
    assert response.status_code == 401


@pytest.mark.parametrize("header", ["Token", "Token a b", "token"])
def test_malformed_token_header_is_401(header):
    """A `Token` header without exactly one key answers 401."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert client.post(reverse("api:broadcast"), BODY, format="json").status_code == 401


def test_valid_token_authenticates_as_the_service(make_service, token_client):
    """An active client's token is accepted: the broadcast is stored (202)."""
    _, token = make_service(broadcast=True)
    assert token_client(token).post(reverse("api:broadcast"), BODY, format="json").status_code == 202


def test_token_is_case_insensitive_on_the_keyword(make_service):
    """The scheme name is matched without regard to case, as HTTP schemes are."""
    _, token = make_service(broadcast=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"token {token}")
    assert client.post(reverse("api:broadcast"), BODY, format="json").status_code == 202


def test_last_used_at_is_recorded_at_most_once_a_minute(make_service, token_client):
    """The first use stamps last_used_at; a use within the minute leaves it; a later one moves it."""
    service, token = make_service(broadcast=True)
    client = token_client(token)
    client.post(reverse("api:broadcast"), BODY, format="json")
    first = ServiceClient.objects.get(pk=service.pk).last_used_at
    assert first is not None
    client.post(reverse("api:broadcast"), BODY, format="json")
    assert ServiceClient.objects.get(pk=service.pk).last_used_at == first
    ServiceClient.objects.filter(pk=service.pk).update(last_used_at=timezone.now() - timedelta(minutes=2))
    client.post(reverse("api:broadcast"), BODY, format="json")
    assert ServiceClient.objects.get(pk=service.pk).last_used_at > first


def test_tokens_never_reach_the_logs(make_service, token_client, caplog):
    """Neither a good nor a bad token appears in any log record."""
    _, token = make_service(broadcast=True)
    with caplog.at_level(logging.DEBUG):
        token_client(token).post(reverse("api:broadcast"), BODY, format="json")
        token_client("bad-secret-value").post(reverse("api:broadcast"), BODY, format="json")
    assert token not in caplog.text
    assert "bad-secret-value" not in caplog.text


def test_the_gateway_user_is_never_taken_from_an_http_request(alice):
    """An HTTP request, whatever its headers, carries no gateway user: GatewayUserAuthentication passes."""
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from notifications.api.authentication import GatewayUserAuthentication

    http_request = APIRequestFactory().get("/api/v1/requests/", HTTP_NOTIFY_GATEWAY_USER="alice")
    assert GatewayUserAuthentication().authenticate(Request(http_request)) is None
