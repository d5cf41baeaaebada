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


def test_many_rows_with_nulls_and_times_are_written_in_one_statement(django_assert_num_queries):
    """Fifty rows, each with its own values and time, are written by one statement and read back as set."""
    owner = get_user_model().objects.create_user("bo", password=None)
    requests = TrackedRequest.objects.bulk_create(TrackedRequest(owner=owner, title=f"R{i}") for i in range(50))
    start = timezone.now() - timedelta(hours=1)
    for i, tracked in enumerate(requests):
        tracked.status, tracked.progress, tracked.message = "processing", i, f"step {i}" if i % 2 else ""
        tracked.updated_at = start + timedelta(seconds=i)
    with django_assert_num_queries(1):
        update_rows(TrackedRequest, requests, TrackedRequest.STATE_FIELDS)

    stored = {r.pk: r for r in TrackedRequest.objects.filter(owner=owner)}
    for i, tracked in enumerate(requests):
        row = stored[tracked.pk]
        assert (row.status, row.progress, row.message) == ("processing", i, f"step {i}" if i % 2 else "")
        assert row.updated_at == start + timedelta(seconds=i)
