"""What an AMQP ingress message means (PROTOCOL 5.3): a `POST /api/v1/events/` sent over RabbitMQ.

The consumer (`realtime/ingress.py`) hands over batches of messages; this
module checks each one as REST checks that POST (the publish permission of
the service client its `user_id` names, the strict JSON of SafeJSONParser,
the same serializer by way of `publish_checks`), and stores the valid ones
through the same action in one transaction, with `message_id` as the
Idempotency-Key of that endpoint.
A batch with any refusal in the store (404, 409, 422, a key race) is rolled
back and stored again one message at a time, so a refusal is only ever its
own message's. Every refusal is an `IngressRefusal` (status, detail) built
from the REST error in `api/errors.py`, so both paths say the same thing.
"""

import logging
from dataclasses import dataclass

from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.urls import reverse
from rest_framework import exceptions, status

from notifications import conf
from notifications.api import errors, publish_checks, serializers
from notifications.api.parsers import as_validation_error
from notifications.api.permissions import has_service_permission
from notifications.api.views import status_change_of
from notifications.errors import ServiceError
from notifications.models import ServiceClient
from notifications.protocol import jsonsafe
from notifications.realtime.ingress import IngressMessage, IngressRefusal
from notifications.store import actions, idempotency, ledger
from notifications.store.idempotency import Answer, Scope

logger = logging.getLogger(__name__)


class Refused(Exception):
    """A message refused before anything is stored."""

    def __init__(self, refusal: IngressRefusal):
        self.refusal = refusal


@dataclass(frozen=True)
class Checked:
    """A message that passed every check: where it is in its batch, its key's scope, the change it asks for."""

    index: int
    scope: Scope
    change: actions.StatusChange
    client: object = None  # the ServiceClient that sent it (it may then read the requests' delivery ledgers)


def store_messages(messages: list[IngressMessage]) -> list[IngressRefusal | None]:
    """Store the batch's valid messages (a repeat of a key stores nothing); return each one's refusal or None.

    Returns only after the commit, so the caller may ack. A database outage
    raises (nothing acked, the broker redelivers).
    """
    outcomes: list[IngressRefusal | None] = [None] * len(messages)
    checked = []
    checks = BatchChecks()
    for index, message in enumerate(messages):
        try:
            checked.append(check_message(index, message, checks))
        except Refused as refused:
            outcomes[index] = refused.refusal
    if _has_repeated_keys(checked):
        _store_one_by_one(checked, outcomes)
        return outcomes
    try:
        perform_store_batch(checked)
    except (ServiceError, IntegrityError):
        _store_one_by_one(checked, outcomes)
    return outcomes


def _has_repeated_keys(checked: list[Checked]) -> bool:
    keys = {(item.scope.principal, item.scope.key) for item in checked}
    return len(keys) < len(checked)


class BatchChecks:
    """What every message of a batch is checked with, built once: the serializer, the endpoint, the clients seen."""

    def __init__(self):
        # Built once, not per message, for the bodies the fast checks leave to it (refusals, lenient spellings);
        # bodies come from jsonsafe.loads, checked already.
        self.serializer = serializers.PublishStatusSerializer(context={serializers.JSON_CHECKED: True})
        self.endpoint = reverse("api:event-publish")  # the endpoint whose Idempotency-Key namespace is shared
        self.clients: dict[str, ServiceClient | None] = {}

    def validate(self, data) -> dict:
        """Return the validated fields of one body; raise Refused (400) naming the bad field."""
        fields = publish_checks.valid_fields(data, json_checked=True)
        if fields is not None:
            return fields
        try:
            return self.serializer.run_validation(data)
        except exceptions.ValidationError as exc:
            raise Refused(refusal_of(exceptions.ValidationError(exc.detail))) from None


def check_message(index: int, message: IngressMessage, checks: BatchChecks) -> Checked:
    """Return the message's checked change and key scope; raise Refused with the status REST would answer."""
    client = check_client(message.user_id, checks.clients)
    key = (message.message_id or "").strip()
    if not idempotency.is_usable_key(key):
        raise Refused(
            IngressRefusal(400, f"message_id: required, 1 to {idempotency.MAX_KEY_LENGTH} printable characters.")
        )
    data = parse_body(message.body)
    fields = checks.validate(data)
    scope = Scope(idempotency.get_principal(client), key, checks.endpoint, idempotency.get_request_hash(data))
    return Checked(index, scope, status_change_of(fields), client)


def check_client(user_id: str | None, clients: dict) -> ServiceClient:
    """Return the active service client `user_id` names with the publish permission; raise Refused (403)."""
    if not user_id:
        raise Refused(IngressRefusal(403, "user_id: required; it names the publishing service client."))
    if user_id not in clients:
        clients[user_id] = ServiceClient.objects.filter(name=user_id).first()
    client = clients[user_id]
    if client is None:
        raise Refused(IngressRefusal(403, "user_id: no service client has this name."))
    if not (client.is_active and has_service_permission(client, "publish")):
        raise Refused(IngressRefusal(403, "This service client lacks the publish permission."))
    return client


def parse_body(raw: bytes):
    """Return the body's JSON value, with the checks of SafeJSONParser and a size bound; raise Refused (400)."""
    limit = conf.ingress_max_body_bytes()
    if len(raw) > limit:
        raise Refused(IngressRefusal(400, f"The body is {len(raw)} bytes; at most {limit} are accepted."))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(IngressRefusal(400, "JSON parse error - the body is not valid utf-8.")) from None
    try:
        return jsonsafe.loads(text)
    except jsonsafe.UnsafeJSON as exc:
        raise Refused(refusal_of(as_validation_error(exc))) from None


def refusal_of(exc: Exception) -> IngressRefusal:
    """Return the refusal that stands for a REST error (its status and `detail`, as api/errors.py renders them)."""
    api_exc = errors.as_api_exception(exc)
    return IngressRefusal(api_exc.status_code, errors.error_body(api_exc)["detail"])


def perform_store_batch(checked: list[Checked]) -> None:
    """Store every checked change in one transaction, skipping keys already answered; raise on any refusal."""
    with transaction.atomic():
        live = idempotency.perform_take_keys(item.scope for item in checked)
        fresh = [item for item in checked if not _answered(item.scope, live)]
        events = actions.do_publish_statuses([item.change for item in fresh]) if fresh else []
        _record_publishers(fresh)
        idempotency.perform_record([(item.scope, _answer(event)) for item, event in zip(fresh, events, strict=True)])


def _record_publishers(checked: list[Checked]) -> None:
    by_client: dict[int, tuple[object, set]] = {}
    for item in checked:
        by_client.setdefault(item.client.pk, (item.client, set()))[1].add(item.change.request_id)
    for client, request_ids in by_client.values():
        ledger.record_publisher(request_ids, client)


def _answered(scope: Scope, live: dict) -> bool:
    record = live.get((scope.principal, scope.key))
    if record is None:
        return False
    idempotency.check_same_call(record, scope)
    return True


def _answer(event) -> Answer:
    """Return what REST's `POST /api/v1/events/` answers for the event: its payload, as StoredEventSerializer gives it.

    The payload was just built from checked values, so the serializer's pass
    (a `jsonsafe.check` and a copy per event) is skipped.
    """
    return status.HTTP_202_ACCEPTED, event.payload


def _store_one_by_one(checked: list[Checked], outcomes: list) -> None:
    for item in checked:
        outcomes[item.index] = perform_store_one(item)


def perform_store_one(item: Checked) -> IngressRefusal | None:
    """Store one change under its key; return its refusal, or None once it (or its first time) is committed."""
    try:
        idempotency.act_once(item.scope, lambda: _answer(actions.do_publish_status(*_change_args(item.change))))
    except ServiceError as exc:
        return refusal_of(exc)
    except (OperationalError, InterfaceError):
        raise  # the database, not this message: nothing is acked, the broker redelivers
    except Exception:
        # A message that breaks the store must not come back forever and stall the queue.
        logger.exception("ingress: storing a message failed; it goes to the rejected exchange with 500")
        return IngressRefusal(500, "The message could not be stored.")
    return None


def _change_args(change: actions.StatusChange) -> tuple:
    return change.request_id, change.status, change.progress, change.message, change.data
