"""`manage.py create_service_token`: create or rotate a service client and print its token once."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from notifications.models import ServiceClient, hash_secret

pytestmark = pytest.mark.django_db


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("create_service_token", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_creates_a_client_and_prints_only_the_token(token_client):
    """stdout is the token alone; the client has exactly the named permissions; the token works."""
    out, err = run("worker", "--permission", "publish")
    token = out.strip()
    assert out == f"{token}\n"
    assert token not in err
    client = ServiceClient.objects.get(name="worker")
    assert (client.can_publish, client.can_broadcast, client.is_active) == (True, False, True)
    assert client.token_hash == hash_secret(token)
    assert token_client(token).get(reverse("api:request-list")).status_code == 200


def test_rotating_replaces_the_token_and_sets_exact_permissions(token_client):
    """Running again issues a new token (the old one stops working) and resets the permissions."""
    old = run("worker", "--permission", "publish", "--permission", "broadcast")[0].strip()
    new = run("worker", "--permission", "broadcast")[0].strip()
    assert new != old
    client = ServiceClient.objects.get(name="worker")
    assert (client.can_publish, client.can_broadcast) == (False, True)
    assert client.rotated_at is not None
    assert token_client(old).post(reverse("api:broadcast"), {"title": "x"}, format="json").status_code == 401
    assert token_client(new).post(reverse("api:broadcast"), {"title": "x"}, format="json").status_code == 202


def test_rotating_reactivates_a_revoked_client():
    """A deactivated client is active again after a rotation."""
    run("worker")
    ServiceClient.objects.filter(name="worker").update(is_active=False)
    run("worker")
    assert ServiceClient.objects.get(name="worker").is_active


def test_no_permission_flag_means_no_permissions():
    """Without --permission the client can authenticate but do nothing."""
    run("reader")
    client = ServiceClient.objects.get(name="reader")
    assert (client.can_publish, client.can_broadcast) == (False, False)


def test_unknown_permission_is_refused():
    """Only publish and broadcast exist."""
    with pytest.raises(CommandError):
        run("worker", "--permission", "admin")
    assert not ServiceClient.objects.exists()
