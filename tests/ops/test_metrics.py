"""/metrics: Prometheus text, guarded by a token or by the caller's address; what the counters count."""

import time

import pytest
from django.urls import reverse
from prometheus_client import REGISTRY

from notifications.ops import metrics


def scrape(client, **extra):
    return client.get(reverse("metrics"), **extra)


def test_loopback_reads_the_metrics_without_a_token(client, settings):
    """With no token configured, a loopback caller gets every metric family."""
    settings.NOTIFY_METRICS_TOKEN = ""
    response = scrape(client, REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    body = response.content.decode()
    for name in (
        "notify_open_connections",
        "notify_events_stored_total",
        "notify_events_fanned_out_total",
        "notify_events_resent_total",
        "notify_delivery_lag_seconds_bucket",
        "notify_frames_refused_total",
        "notify_channel_layer_reconnects_total",
    ):
        assert name in body, name


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


def test_each_delivery_observes_the_lag_since_the_event_was_stored():
    """One observation per delivery, measured from the event's created_at."""
    before = REGISTRY.get_sample_value("notify_delivery_lag_seconds_count") or 0
    metrics.observe_delivery_lag(time.time() - 0.2)
    assert REGISTRY.get_sample_value("notify_delivery_lag_seconds_count") == before + 1
    assert REGISTRY.get_sample_value("notify_delivery_lag_seconds_bucket", {"le": "0.25"}) >= 1
