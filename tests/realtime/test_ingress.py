"""The ingress consumer's pure parts: names derived from the exchange, and what a refused message carries."""

import pamqp.commands

from notifications.realtime import ingress
from notifications.realtime.ingress import IngressRefusal


def test_queue_and_rejected_exchange_are_named_after_the_exchange():
    assert ingress.queue_name("notify.ingress") == "notify.ingress.events"
    assert ingress.rejected_exchange("notify.ingress") == "notify.ingress.rejected"


def original(**fields) -> pamqp.commands.Basic.Properties:
    base = {"message_id": "m-1", "correlation_id": "c", "headers": {"x-app": "kept"}, "delivery_mode": 2}
    return pamqp.commands.Basic.Properties(**{**base, **fields})


def test_refused_properties_keep_the_originals_and_add_the_refusal():
    kept = ingress.rejected_properties(original(user_id="svc"), IngressRefusal(409, "final"), "svc")
    assert (kept.message_id, kept.correlation_id, kept.delivery_mode, kept.user_id) == ("m-1", "c", 2, "svc")
    assert kept.headers == {"x-app": "kept", "x-notify-status": 409, "x-notify-detail": "final"}


def test_another_users_user_id_moves_to_a_header():
    """RabbitMQ refuses a user_id other than the connection's, so it travels as x-notify-user-id."""
    kept = ingress.rejected_properties(original(user_id="other"), IngressRefusal(403, "no"), "svc")
    assert kept.user_id is None and kept.headers["x-notify-user-id"] == "other"


def test_the_consumer_is_off_without_a_broker_or_when_turned_off(settings):
    settings.NOTIFY_AMQP_URL = ""
    assert ingress.start_consumer(None, []) is None
    settings.NOTIFY_AMQP_URL, settings.NOTIFY_INGRESS_CONSUMER = "amqp://guest:guest@127.0.0.1:5672", "0"
    assert ingress.start_consumer(None, []) is None
