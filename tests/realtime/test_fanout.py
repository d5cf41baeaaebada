"""The outbox sweep's sends: one event the layer will not take fails alone, and is given up on at the bound."""

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async

from notifications.models import Event
from notifications.realtime import fanout as fanout_module
from notifications.store import publishing
from tests.sockets import make_user, publish

pytestmark = pytest.mark.django_db(transaction=True)


def refusing(link, refused_position: int):
    """Wrap the layer's sends so that any message carrying the refused event is not confirmed."""
    real = link.group_send_all
    seq = Event.objects.get(pk=refused_position).seq

    async def group_send_all(items, **kwargs):
        carries = [any(wire[1] == seq for wire in message.get("events", ())) for _, message in items]
        outcomes = await real([item for item, bad in zip(items, carries, strict=True) if not bad], **kwargs)
        it = iter(outcomes)
        return [False if bad else next(it) for bad in carries]

    return group_send_all


async def stored(event) -> Event:
    return await database_sync_to_async(Event.objects.defer("payload").get)(pk=event.pk)


async def test_a_refused_event_fails_alone_and_is_given_up_on_at_the_bound(hub, monkeypatch, settings):
    """The sweep resends a refused batch one event per message: the others arrive; the bad one ends failed."""
    settings.NOTIFY_OUTBOX_MAX_ATTEMPTS = 2
    monkeypatch.setattr(publishing, "_sink", None)
    user = await make_user("ada")
    events = [(await publish(user, title=f"Report {n}"))[1] for n in range(3)]
    bad = events[1]
    monkeypatch.setattr(hub.link, "group_send_all", await database_sync_to_async(refusing)(hub.link, bad.pk))
    monkeypatch.setattr(fanout_module, "OUTBOX_GRACE", timedelta(0))

    # Three requests created and three statuses published: six events, five of them sendable.
    assert await hub.fanout.sweep_outbox() == 5
    assert (await stored(events[0])).fanned_out_at is not None
    assert (await stored(events[2])).fanned_out_at is not None
    first = await stored(bad)
    assert (first.delivery_state, first.fanout_attempts) == ("stored", 1)

    await database_sync_to_async(Event.objects.filter(pk=bad.pk).update)(fanout_claimed_until=None)
    assert await hub.fanout.sweep_outbox() == 0
    given_up = await stored(bad)
    assert (given_up.delivery_state, given_up.fanout_error) == ("failed", fanout_module.LAYER_REFUSED)
