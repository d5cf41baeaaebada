"""`field__any_of=values` (notifications/store/lookups.py): IN, as one array parameter on PostgreSQL."""

import pytest
from django.contrib.auth import get_user_model

from notifications.models import TrackedRequest

pytestmark = pytest.mark.django_db


def test_any_of_selects_the_rows_whose_value_is_listed_and_none_for_an_empty_list():
    """UUID keys given as strings and as UUIDs, text values, and no values at all."""
    owner = get_user_model().objects.create_user("cy", password=None)
    first, second, _ = (TrackedRequest.objects.create(owner=owner, title=t) for t in ("A", "B", "C"))
    assert set(TrackedRequest.objects.filter(pk__any_of=[str(first.pk), second.pk])) == {first, second}
    assert list(TrackedRequest.objects.filter(title__any_of=["C", "Z"]).values_list("title", flat=True)) == ["C"]
    assert list(TrackedRequest.objects.filter(pk__any_of=[])) == []
