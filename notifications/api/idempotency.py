"""`Idempotency-Key`: a retried POST answers its first answer instead of acting twice.

A key is the caller's and the endpoint's, and stands for one body: reused on
another endpoint, or with a body whose parsed JSON differs, it answers 422 and
changes nothing. Whitespace and key order do not count: the body is hashed
as canonical JSON. A record older than NOTIFY_IDEMPOTENCY_DAYS is ignored
and replaced when its key comes again (retention prunes the rest).

The answer is stored in the same transaction as the action it describes, so
either both exist or neither does. Two concurrent requests with one key race
on the unique (principal, key) constraint: the loser's action rolls back and
it answers the winner's stored answer. Failures (4xx raised before or inside
the action) are not stored, so a corrected retry can still succeed.
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from notifications import conf
from notifications.api.permissions import is_service
from notifications.errors import IdempotencyKeyReused, ServiceError
from notifications.models import IdempotencyRecord

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 200

Answer = tuple[int, dict]


@dataclass(frozen=True)
class Scope:
    """What one key stands for: whose it is, where it was used, and the body it came with."""

    principal: str
    key: str
    endpoint: str
    request_hash: str


def respond_once(request: Request, perform: Callable[[], Answer]) -> Response:
    """Return `perform`'s answer, or the stored first answer for a repeated key (422 if it was another call)."""
    key = get_key(request)
    if key is None:
        return _response(perform())
    scope = get_scope(request, key)
    stored = get_stored_answer(scope)
    if stored is not None:
        return _response(stored, replayed=True)
    try:
        with transaction.atomic():
            perform_forget_expired(scope)
            answer = perform()
            perform_record(scope, answer)
    except (IntegrityError, ServiceError):
        # A concurrent call with this key committed first: this one's action saw its effect
        # (a unique clash, or a move its event made impossible) and is rolled back.
        stored = get_stored_answer(scope)
        if stored is None:
            raise
        return _response(stored, replayed=True)
    return _response(answer)


def get_key(request: Request) -> str | None:
    """Return the request's idempotency key, None without one; raise 400 if it is unusable."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationError({IDEMPOTENCY_HEADER: [f"Must be 1 to {MAX_KEY_LENGTH} printable characters."]})
    return key


def get_scope(request: Request, key: str) -> Scope:
    """Return the key's scope for this call; parses the body (a bad body answers 400 here)."""
    return Scope(get_principal(request.user), key, request.path_info, get_request_hash(request.data))


def get_principal(principal) -> str:
    """Return whose keys these are: keys of different callers never collide."""
    return f"service:{principal.pk}" if is_service(principal) else f"user:{principal.pk}"


def get_request_hash(data) -> str:
    """Return the SHA-256 of the parsed body as canonical JSON (sorted keys, no spaces)."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def get_expiry_cutoff() -> datetime:
    """Return the creation time before which a record no longer answers for its key."""
    return timezone.now() - timedelta(days=conf.idempotency_days())


def get_stored_answer(scope: Scope) -> Answer | None:
    """Return the live first answer for the key, None if there is none; raise 422 if it was another call."""
    record = IdempotencyRecord.objects.filter(
        principal=scope.principal, key=scope.key, created_at__gte=get_expiry_cutoff()
    ).first()
    if record is None:
        return None
    check_same_call(record, scope)
    return record.status_code, record.body


def check_same_call(record: IdempotencyRecord, scope: Scope) -> None:
    """Raise IdempotencyKeyReused unless the record was made by this endpoint with this body.

    Records stored before keys were scoped carry neither; they match any call.
    """
    if record.endpoint not in ("", scope.endpoint):
        raise IdempotencyKeyReused(
            f"This {IDEMPOTENCY_HEADER} was used on {record.endpoint}; use a new key for each operation."
        )
    if record.request_hash not in ("", scope.request_hash):
        raise IdempotencyKeyReused(
            f"This {IDEMPOTENCY_HEADER} was used with another body; use a new key for each operation."
        )


def perform_forget_expired(scope: Scope) -> None:
    """Delete the key's expired record, so that this call may take the key."""
    IdempotencyRecord.objects.filter(
        principal=scope.principal, key=scope.key, created_at__lt=get_expiry_cutoff()
    ).delete()


def perform_record(scope: Scope, answer: Answer) -> None:
    status_code, body = answer
    IdempotencyRecord.objects.create(
        principal=scope.principal,
        key=scope.key,
        endpoint=scope.endpoint,
        request_hash=scope.request_hash,
        status_code=status_code,
        body=body,
    )


def _response(answer: Answer, replayed: bool = False) -> Response:
    status_code, body = answer
    headers = {REPLAYED_HEADER: "true"} if replayed else None
    return Response(body, status=status_code, headers=headers)
