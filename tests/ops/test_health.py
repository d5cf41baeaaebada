"""/healthz and /readyz."""

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from notifications.realtime.layer import LayerUnavailable


def test_healthz_answers_while_the_process_runs(client):
    """/healthz is 200 without touching the database or the broker."""
    assert client.get("/healthz").json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_is_503_naming_the_channel_layer_when_no_hub_runs(client):
    """Without a running hub the channel layer is reported down."""
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["down"] == ["channel_layer"]


@pytest.mark.django_db(transaction=True)
async def test_readyz_is_200_when_database_and_layer_answer(hub):
    """With the hub's probe through the layer answered, /readyz is 200."""
    assert await hub.link.probe(3)
    answer = await sync_to_async(Client().get)("/readyz")
    assert answer.status_code == 200
    assert answer.json()["checks"]["channel_layer"]["healthy"] is True


@pytest.mark.django_db(transaction=True)
async def test_readyz_is_503_while_the_layer_does_not_answer(hub, monkeypatch):
    """A failed probe turns /readyz to 503 with the reason."""

    async def never(*args, **kwargs):
        raise LayerUnavailable("gone")

    monkeypatch.setattr(hub.link, "call", never)
    assert not await hub.link.probe(0.5)
    answer = await sync_to_async(Client().get)("/readyz")
    assert answer.status_code == 503
    assert "probe failed" in answer.json()["checks"]["channel_layer"]["error"]
