"""Stored MQTT sessions: opened per user and client id, discarded by clean session 1, pruned past the history."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from notifications.models import MqttSession
from notifications.protocol.cursors import Cursor
from notifications.store import mqtt_sessions
from notifications.store.retention import prune_all

pytestmark = pytest.mark.django_db


def test_a_new_session_starts_at_the_head_and_a_reopened_one_is_present_with_its_positions():
    """First open: not present, acked = sent = head; after saving, the next open returns what was stored."""
    user = get_user_model().objects.create_user("ada")
    first = mqtt_sessions.open_session(user.pk, "phone", clean=False, head=Cursor(2, 5))
    assert (first.present, first.acked, first.sent, first.subscriptions) == (False, Cursor(2, 5), Cursor(2, 5), [])
    mqtt_sessions.save_subscriptions(user.pk, "phone", [["notify/me/#", 1]])
    mqtt_sessions.save_positions(user.pk, "phone", Cursor(2, 7), Cursor(3, 8))
    again = mqtt_sessions.open_session(user.pk, "phone", clean=False, head=Cursor(9, 9))
    assert (again.present, again.acked, again.sent) == (True, Cursor(2, 7), Cursor(3, 8))
    assert again.subscriptions == [("notify/me/#", 1)]


def test_clean_session_discards_only_that_client_ids_session():
    """Clean session 1 deletes the stored session of that client id and keeps nothing; others stay."""
    user = get_user_model().objects.create_user("ada")
    mqtt_sessions.open_session(user.pk, "phone", clean=False, head=Cursor())
    mqtt_sessions.open_session(user.pk, "laptop", clean=False, head=Cursor())
    assert mqtt_sessions.open_session(user.pk, "phone", clean=True, head=Cursor()) is None
    assert list(MqttSession.objects.values_list("client_id", flat=True)) == ["laptop"]


def test_prune_all_deletes_sessions_untouched_for_the_history_window():
    """A session not written for NOTIFY_HISTORY_DAYS goes with the retention run; a recent one stays."""
    user = get_user_model().objects.create_user("ada")
    mqtt_sessions.open_session(user.pk, "old", clean=False, head=Cursor())
    mqtt_sessions.open_session(user.pk, "recent", clean=False, head=Cursor())
    MqttSession.objects.filter(client_id="old").update(updated_at=timezone.now() - timedelta(days=30))
    assert prune_all()["stale MQTT sessions"] == 1
    assert list(MqttSession.objects.values_list("client_id", flat=True)) == ["recent"]
