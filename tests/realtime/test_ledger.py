"""This process's delivery counts: aggregated per event in memory, added to the ledger in one upsert."""

from unittest import mock

import pytest
from django.contrib.auth import get_user_model

from notifications.models import EventDelivery
from notifications.realtime.ledger import DeliveryRecorder
from notifications.store import ledger

JSON, STOMP = ledger.PROTOCOL_BITS["json"], ledger.PROTOCOL_BITS["stomp"]


@pytest.mark.django_db(transaction=True)
async def test_deliveries_of_one_event_become_one_row_whose_counts_add_up_across_flushes():
    user = await get_user_model().objects.acreate(username="ada")
    recorder = DeliveryRecorder()
    for bit in (JSON, JSON, STOMP):
        recorder.delivered(user.pk, 7, bit)
    recorder.delivered(0, 3, JSON)  # an announcement
    await recorder.flush()
    recorder.delivered(user.pk, 7, JSON)
    await recorder.flush()

    row = await EventDelivery.objects.aget(stream=user.pk, seq=7)
    assert (row.connections, row.protocols) == (4, JSON | STOMP)
    assert (await EventDelivery.objects.aget(stream=0, seq=3)).connections == 1


@pytest.mark.django_db(transaction=True)
async def test_counts_the_database_refused_are_kept_for_the_next_flush():
    recorder = DeliveryRecorder()
    recorder.delivered(5, 1, JSON)
    with mock.patch.object(ledger, "add_deliveries", side_effect=OSError("database down")):
        await recorder.flush()
    recorder.delivered(5, 1, STOMP)
    await recorder.flush()
    row = await EventDelivery.objects.aget(stream=5, seq=1)
    assert (row.connections, row.protocols) == (2, JSON | STOMP)
