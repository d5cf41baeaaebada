"""Writing fields of many rows at once (notifications/rowupdates.py)."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from notifications.models import TrackedRequest
from notifications.store.rowupdates import update_rows

pytestmark = pytest.mark.django_db


def test_each_row_gets_its_own_values_and_nothing_else_changes():
    """Two requests (UUID keys) get their own status and time; untouched fields and other rows stay."""
    owner = get_user_model().objects.create_user("ada", password=None)
    first, second, other = (TrackedRequest.objects.create(owner=owner, title=t) for t in ("A", "B", "C"))
    when = timezone.now() - timedelta(days=3)
    first.status, first.progress, first.updated_at = "processing", 30, when
    second.status, second.title = "failed", "not written"
    update_rows(TrackedRequest, [first, second], ["status", "progress", "updated_at"])

    first.refresh_from_db()
    second.refresh_from_db()
    other.refresh_from_db()
    assert (first.status, first.progress, first.updated_at) == ("processing", 30, when)
    assert (second.status, second.title) == ("failed", "B")
    assert other.status == "queued"


def test_no_rows_is_no_query(django_assert_num_queries):
    """Nothing to write sends nothing to the database."""
    with django_assert_num_queries(0):
        update_rows(TrackedRequest, [], ["status"])
