"""`POST /api/v1/ws-tickets/` and `GET /api/v1/presence/`."""

import pytest
from django.urls import reverse

from notifications.models import WebSocketTicket, hash_secret
from notifications.store import tickets

pytestmark = pytest.mark.django_db


def test_user_gets_a_ticket_bound_to_itself_and_its_session(signed_in, alice):
    """A signed-in user's ticket redeems once, for that user and its session."""
    client = signed_in(alice)
    response = client.post(reverse("api:ws-ticket"), {}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["expires_in"] == 60
    redeemed = tickets.redeem_ticket(body["ticket"])
    assert redeemed.user == alice
    assert redeemed.session_key == client.session.session_key != ""


def test_ticket_lifetime_follows_the_setting(signed_in, alice, settings):
    """`expires_in` reports NOTIFY_TICKET_TTL_SECS, read when the ticket is issued."""
    settings.NOTIFY_TICKET_TTL_SECS = 15
    assert signed_in(alice).post(reverse("api:ws-ticket"), {}, format="json").json()["expires_in"] == 15


def test_raw_ticket_is_not_stored(signed_in, alice):
    """Only the ticket's digest is in the database."""
    ticket = signed_in(alice).post(reverse("api:ws-ticket"), {}, format="json").json()["ticket"]
    assert not WebSocketTicket.objects.filter(ticket_hash=ticket).exists()
    assert WebSocketTicket.objects.filter(ticket_hash=hash_secret(ticket)).exists()


def test_publishing_service_gets_a_ticket_for_a_named_user(publisher, alice):
    """A service acting for a user gets a ticket for that user, bound to no session."""
    response = publisher.post(reverse("api:ws-ticket"), {"user": "alice"}, format="json")
    assert response.status_code == 201
    redeemed = tickets.redeem_ticket(response.json()["ticket"])
    assert (redeemed.user, redeemed.session_key) == (alice, "")


def test_service_ticket_needs_a_user(publisher):
    """A service that names no user answers 400 naming `user`."""
    response = publisher.post(reverse("api:ws-ticket"), {}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("user: ")


def test_service_ticket_needs_publish(powerless, alice):
    """A token without the publish permission gets no ticket."""
    assert powerless.post(reverse("api:ws-ticket"), {"user": "alice"}, format="json").status_code == 403


def test_user_cannot_get_a_ticket_for_someone_else(signed_in, alice, bob):
    """A person naming another user answers 403."""
    assert signed_in(alice).post(reverse("api:ws-ticket"), {"user": "bob"}, format="json").status_code == 403


def test_anonymous_gets_no_ticket(client):
    """Without a session or token: 401."""
    assert client.post(reverse("api:ws-ticket"), {}, content_type="application/json").status_code == 401


def test_staff_sees_presence(signed_in, staff):
    """Staff get who is online and the connections per instance."""
    response = signed_in(staff).get(reverse("api:presence"))
    assert response.status_code == 200
    assert set(response.json()) >= {"instances", "users", "online_users", "connections"}


def test_non_staff_sees_no_presence(signed_in, alice):
    """Presence is for staff only."""
    assert signed_in(alice).get(reverse("api:presence")).status_code == 403
