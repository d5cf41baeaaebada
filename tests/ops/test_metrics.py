"""/metrics: Prometheus text, guarded by a token or by the caller's address; what the counters count."""

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from notifications.ops import metrics
from notifications.realtime import fanout as fanout_module
from notifications.store import actions, publishing
from tests import poison
from tests.sockets import live_socket, make_user, open_socket, publish, receive_until


def scrape(client, **extra):
    return client.get(reverse("metrics"), **extra)


def scraped(client) -> dict[tuple[str, tuple], float]:
    """Return every sample of a real /metrics answer, by name and labels."""
    response = scrape(client, REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def moved(before: dict, after: dict, name: str, **labels) -> float:
    key = (name, tuple(sorted(labels.items())))
    assert key in after, f"{name}{labels or ''} is not in /metrics"
    return after[key] - before.get(key, 0)


@pytest.mark.django_db(transaction=True)
async def test_each_metric_moves_when_its_thing_happens(hub, monkeypatch, settings):
    """Scraped from /metrics: sockets, stored, fanned-out, re-sent and failed events, lag and refusals each move."""
    settings.NOTIFY_METRICS_TOKEN = ""
    client = Client()
    before = await database_sync_to_async(scraped)(client)
    user = await make_user("ada")
    communicator = await live_socket(user)
    refused, _, _ = await open_socket(cookie=None)
    assert (await refused.receive_output(timeout=5)) == {"type": "websocket.close", "code": 4401}
    await publish(user)
    await receive_until(communicator, "event")
    await receive_until(communicator, "event")
    await communicator.send_to(text_data="{broken")
    await receive_until(communicator, "error")

    monkeypatch.setattr(publishing, "_sink", None)  # stored elsewhere: only the sweep sends these
    _, pending = await publish(user, title="From a worker")
    _, bad = await publish(user, title="Poison")
    await database_sync_to_async(poison.force_payload)(bad.position, await database_sync_to_async(poison.poison_text)())
    monkeypatch.setattr(fanout_module, "OUTBOX_GRACE", timedelta(0))
    await hub.sweep_outbox()
    after = await database_sync_to_async(scraped)(client)

    assert after[("notify_open_connections", ())] == 1
    assert after[("notify_open_connections_by_protocol", (("protocol", "json"),))] == 1
    assert moved(before, after, "notify_sockets_opened_total", protocol="json") == 1
    assert moved(before, after, "notify_sockets_refused_total", protocol="json") == 1
    assert moved(before, after, "notify_events_stored_total", kind="request.status") == 2
    assert moved(before, after, "notify_events_fanned_out_total") == 2
    assert moved(before, after, "notify_events_resent_total") == 3  # both of the second request, one of the third
    assert moved(before, after, "notify_events_failed_total") == 1
    assert moved(before, after, "notify_delivery_lag_seconds_count", protocol="json") >= 2
    assert moved(before, after, "notify_frames_refused_total", code="bad_request", protocol="json") == 1
    assert moved(before, after, "notify_frames_received_total", protocol="json") >= 1
    assert moved(before, after, "notify_channel_layer_reconnects_total") == 0
    assert after[("notify_channel_layer_healthy", ())] == 1
    await communicator.disconnect()


@pytest.mark.parametrize("address, status", [("10.1.2.3", 200), ("::1", 200), ("93.184.216.34", 403), ("8.8.8.8", 403)])
def test_without_a_token_only_internal_addresses_are_served(client, settings, address, status):
    """Public addresses are refused when no token is set."""
    settings.NOTIFY_METRICS_TOKEN = ""
    assert scrape(client, REMOTE_ADDR=address).status_code == status


def test_with_a_token_set_the_bearer_token_is_required_from_anywhere(client, settings):
    """A configured token is required even from loopback; the right one opens it from anywhere."""
    settings.NOTIFY_METRICS_TOKEN = "s3cret-metrics"
    assert scrape(client, REMOTE_ADDR="127.0.0.1").status_code == 401
    assert scrape(client, REMOTE_ADDR="127.0.0.1", HTTP_AUTHORIZATION="Bearer nope").status_code == 401
    ok = scrape(client, REMOTE_ADDR="8.8.8.8", HTTP_AUTHORIZATION="Bearer s3cret-metrics")
    assert ok.status_code == 200


def test_a_metrics_port_hides_the_endpoint_on_every_other_port(client, settings):
    """Bound to an internal port, /metrics is a 404 on the public one."""
    settings.NOTIFY_METRICS_TOKEN = ""
    settings.NOTIFY_METRICS_PORT = 9100
    assert scrape(client, SERVER_PORT="8000").status_code == 404
    assert scrape(client, SERVER_PORT="9100", REMOTE_ADDR="8.8.8.8").status_code == 200


def test_lag_is_kept_per_protocol_and_live_apart_from_replay():
    """A STOMP socket's live and replayed events land in their own labelled histograms."""

    def count(name):
        return REGISTRY.get_sample_value(f"{name}_count", {"protocol": "stomp"}) or 0

    live_before, replay_before = count("notify_delivery_lag_seconds"), count("notify_replay_lag_seconds")
    observer = metrics.LagObserver("stomp")
    observer.live(0)
    observer.live(0)
    observer.replay(0)
    assert count("notify_delivery_lag_seconds") == live_before + 2
    assert count("notify_replay_lag_seconds") == replay_before + 1


@pytest.mark.django_db
def test_time_to_read_counts_each_request_event_the_read_marker_passes_once():
    """Marking read observes the time since the event was stored; marking the same event again does not."""

    def count():
        return REGISTRY.get_sample_value("notify_time_to_read_seconds_count") or 0

    ada = get_user_model().objects.create_user("ada", password="pw")
    _, event = actions.do_create_request(ada, "Report")
    before = count()
    actions.do_mark_read(ada, event.id)
    actions.do_mark_read(ada, event.id)
    assert count() == before + 1
