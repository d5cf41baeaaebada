"""WebSocket tickets: single use, short lived, stored only as a digest (notifications/tickets.py)."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from notifications.models import WebSocketTicket, hash_secret
from notifications.store import tickets

pytestmark = pytest.mark.django_db


def test_ticket_redeems_once(alice):
    """The first redeem returns the ticket's user and session and marks it used; the second returns None."""
    client = Client()
    client.force_login(alice)  # a ticket is worth no more than its live session
    session_key = client.session.session_key
    raw = tickets.issue_ticket(alice, session_key=session_key)
    redeemed = tickets.redeem_ticket(raw)
    assert (redeemed.user, redeemed.session_key) == (alice, session_key)
    assert WebSocketTicket.objects.get(ticket_hash=hash_secret(raw)).used_at is not None
    assert tickets.redeem_ticket(raw) is None


def test_the_redeemed_user_is_its_whole_row_as_the_orm_reads_it(alice):
    """Every field of the user comes back converted as the ORM converts it (aware datetimes, booleans)."""
    alice.last_login = timezone.now()
    alice.save()
    user = tickets.redeem_ticket(tickets.issue_ticket(alice)).user
    stored = get_user_model().objects.get(pk=alice.pk)
    for field in get_user_model()._meta.concrete_fields:
        assert getattr(user, field.attname) == getattr(stored, field.attname), field.name
    assert user.is_active is True and timezone.is_aware(user.date_joined) and timezone.is_aware(user.last_login)
    assert not user._state.adding


def test_a_ticket_of_a_deleted_user_is_refused(alice):
    raw = tickets.issue_ticket(alice)
    get_user_model().objects.filter(pk=alice.pk).delete()
    assert tickets.redeem_ticket(raw) is None


def test_expired_ticket_is_refused(alice):
    """A ticket past its lifetime does not redeem."""
    raw = tickets.issue_ticket(alice, ttl_seconds=60)
    WebSocketTicket.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert tickets.redeem_ticket(raw) is None


def test_unknown_ticket_is_refused(alice):
    """A value that was never issued does not redeem."""
    tickets.issue_ticket(alice)
    assert tickets.redeem_ticket("made-up") is None


def test_lifetime_defaults_to_the_setting(alice, settings):
    """Without ttl_seconds, the lifetime is NOTIFY_TICKET_TTL_SECS, read at call time."""
    settings.NOTIFY_TICKET_TTL_SECS = 5
    before = timezone.now()
    raw = tickets.issue_ticket(alice)
    expires_at = WebSocketTicket.objects.get(ticket_hash=hash_secret(raw)).expires_at
    assert before + timedelta(seconds=5) <= expires_at <= timezone.now() + timedelta(seconds=5)


def test_tickets_are_unguessable_and_distinct(alice):
    """Each ticket is a fresh random value, long enough not to be guessed."""
    first, second = tickets.issue_ticket(alice), tickets.issue_ticket(alice)
    assert first != second
    assert len(first) >= 40


def test_issuing_deletes_long_expired_tickets(alice):
    """Tickets expired over an hour ago go when the next one is issued; recent ones stay."""
    old = tickets.issue_ticket(alice)
    recent = tickets.issue_ticket(alice)
    now = timezone.now()
    WebSocketTicket.objects.filter(ticket_hash=hash_secret(old)).update(expires_at=now - timedelta(hours=2))
    WebSocketTicket.objects.filter(ticket_hash=hash_secret(recent)).update(expires_at=now - timedelta(minutes=5))
    tickets.issue_ticket(alice)
    remaining = set(WebSocketTicket.objects.values_list("ticket_hash", flat=True))
    assert hash_secret(old) not in remaining
    assert hash_secret(recent) in remaining


def test_a_ticket_of_a_session_that_ended_redeems_nothing(alice):
    """After the session it was issued from signs out, the ticket opens nothing (and stays used)."""
    client = Client()
    client.force_login(alice)
    raw = tickets.issue_ticket(alice, session_key=client.session.session_key)
    client.logout()
    assert tickets.redeem_ticket(raw) is None
