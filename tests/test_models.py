"""The rows: a payload Python cannot load back never fails the reads of its whole stream."""

import pytest
from django.db import connection

from notifications.models import Event, UnreadablePayload
from notifications.protocol.cursors import Cursor
from notifications.store import streams
from tests import poison

pytestmark = pytest.mark.django_db


def test_an_unloadable_payload_loads_as_unreadable_and_the_rest_of_the_stream_reads(django_user_model):
    """A row written past every check (a 5,000-digit number, nesting past the decoder) loads as UnreadablePayload."""
    from notifications.store import actions

    user = django_user_model.objects.create_user("ada")
    tracked, first = actions.do_create_request(user, "Report")
    later = actions.do_publish_status(tracked.id, "processing", progress=10)
    poison.force_payload(first.position, poison.TOO_DEEP if connection.vendor == "sqlite" else poison.UNLOADABLE_NUMBER)

    replay = streams.events_after(user.pk, Cursor(0, 0), 10)

    assert [event.id for event in replay.events] == [first.id, later.id]
    assert isinstance(replay.events[0].payload, UnreadablePayload)
    with pytest.raises(ValueError, match="cannot be loaded"):
        _ = replay.events[0].encoded_payload
    assert Event.objects.get(pk=later.pk).payload["request"]["progress"] == 10
