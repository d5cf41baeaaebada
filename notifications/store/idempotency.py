"""Idempotency keys: a repeated call answers its first answer instead of acting twice.

One namespace for every way in: REST's `Idempotency-Key` header and an AMQP
message's `message_id` (PROTOCOL 5.3) are the same key when they come from
the same caller for the same endpoint. A key is the caller's and the
endpoint's, and stands for one body: reused on another endpoint, or with a
body whose parsed JSON differs, it raises IdempotencyKeyReused (422) and
changes nothing. Whitespace and key order do not count: the body is hashed
as canonical JSON. A record older than NOTIFY_IDEMPOTENCY_DAYS is ignored
and replaced when its key comes again (retention prunes the rest).

The answer is stored in the same transaction as the action it describes, so
either both exist or neither does. Two concurrent calls with one key race
on the unique (principal, key) constraint: the loser's action rolls back and
it answers the winner's stored answer. Failures (errors raised before or
inside the action) are not stored, so a corrected retry can still succeed.
"""

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from notifications import conf
from notifications.errors import IdempotencyKeyReused, ServiceError
from notifications.models import IdempotencyRecord, ServiceClient

MAX_KEY_LENGTH = 200
# Batches at least this big go in by COPY on PostgreSQL (one REST call's record is a plain INSERT).
COPY_FROM_ROWS = 20

Answer = tuple[int, dict]


@dataclass(frozen=True)
class Scope:
    """What one key stands for: whose it is, where it was used, and the body it came with."""

    principal: str
    key: str
    endpoint: str
    request_hash: str


def act_once(scope: Scope, perform: Callable[[], Answer]) -> tuple[Answer, bool]:
    """Return `perform`'s answer and False, or the stored first answer and True for a repeated key."""
    stored = get_stored_answer(scope)
    if stored is not None:
        return stored, True
    try:
        with transaction.atomic():
            perform_forget_expired([scope])
            answer = perform()
            perform_record([(scope, answer)])
    except (IntegrityError, ServiceError):
        # A concurrent call with this key committed first: this one's action saw its effect
        # (a unique clash, or a move its event made impossible) and is rolled back.
        stored = get_stored_answer(scope)
        if stored is None:
            raise
        return stored, True
    return answer, False


def is_usable_key(key: str) -> bool:
    """Return whether a key (already stripped) is 1 to MAX_KEY_LENGTH printable characters."""
    return bool(key) and len(key) <= MAX_KEY_LENGTH and key.isprintable()


def get_principal(principal) -> str:
    """Return whose keys these are: keys of different callers never collide."""
    return f"service:{principal.pk}" if isinstance(principal, ServiceClient) else f"user:{principal.pk}"


def get_request_hash(data) -> str:
    """Return the SHA-256 of the parsed body as canonical JSON (sorted keys, no spaces)."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def get_expiry_cutoff() -> datetime:
    """Return the creation time before which a record no longer answers for its key."""
    return timezone.now() - timedelta(days=conf.idempotency_days())


def get_stored_answer(scope: Scope) -> Answer | None:
    """Return the live first answer for the key, None if there is none; raise 422 if it was another call."""
    record = get_live_records([scope]).get((scope.principal, scope.key))
    if record is None:
        return None
    check_same_call(record, scope)
    return record.status_code, record.body


def get_live_records(scopes: Iterable[Scope]) -> dict[tuple[str, str], IdempotencyRecord]:
    """Return the unexpired records of these keys, by (principal, key), in one query."""
    match = _keys_filter(scopes)
    if match is None:
        return {}
    records = IdempotencyRecord.objects.filter(match, created_at__gte=get_expiry_cutoff())
    return {(record.principal, record.key): record for record in records}


def check_same_call(record: IdempotencyRecord, scope: Scope) -> None:
    """Raise IdempotencyKeyReused unless the record was made by this endpoint with this body.

    Records stored before keys were scoped carry neither; they match any call.
    """
    if record.endpoint not in ("", scope.endpoint):
        raise IdempotencyKeyReused(
            f"This Idempotency-Key was used on {record.endpoint}; use a new key for each operation."
        )
    if record.request_hash not in ("", scope.request_hash):
        raise IdempotencyKeyReused("This Idempotency-Key was used with another body; use a new key for each operation.")


def perform_take_keys(scopes: Iterable[Scope]) -> dict[tuple[str, str], IdempotencyRecord]:
    """Return the live records of these keys by (principal, key); delete their expired ones so calls may take them.

    For a batch: one query when no key has an expired record (the common
    case), where `get_live_records` and `perform_forget_expired` make two.
    The records' answers (`body`) are not read.
    """
    match = _keys_filter(scopes)
    if match is None:
        return {}
    cutoff = get_expiry_cutoff()
    live, expired = {}, []
    for record in IdempotencyRecord.objects.filter(match).defer("body"):
        if record.created_at >= cutoff:
            live[(record.principal, record.key)] = record
        else:
            expired.append(record.pk)
    if expired:
        IdempotencyRecord.objects.filter(pk__any_of=expired, created_at__lt=cutoff).delete()
    return live


def perform_forget_expired(scopes: Iterable[Scope]) -> None:
    """Delete the keys' expired records, so that these calls may take the keys."""
    match = _keys_filter(scopes)
    if match is not None:
        IdempotencyRecord.objects.filter(match, created_at__lt=get_expiry_cutoff()).delete()


def perform_record(answers: list[tuple[Scope, Answer]]) -> None:
    """Store the first answer of each key in one statement; a key taken meanwhile raises IntegrityError.

    On PostgreSQL the rows go in by COPY: a batch of the AMQP ingress stores
    hundreds, and `bulk_create`'s per-row field preparation and array quoting
    were a third of a batch's time in profiles.
    """
    now = timezone.now()
    if connection.vendor != "postgresql" or len(answers) < COPY_FROM_ROWS:
        IdempotencyRecord.objects.bulk_create(
            IdempotencyRecord(
                principal=scope.principal,
                key=scope.key,
                endpoint=scope.endpoint,
                request_hash=scope.request_hash,
                status_code=status_code,
                body=body,
                created_at=now,
            )
            for scope, (status_code, body) in answers
        )
        return
    _copy_records(answers, now)


def _copy_records(answers: list[tuple[Scope, Answer]], now: datetime) -> None:
    columns = "principal, key, endpoint, request_hash, status_code, body, created_at"
    with connection.cursor() as cursor, connection.wrap_database_errors:
        with cursor.cursor.copy(f"COPY {IdempotencyRecord._meta.db_table} ({columns}) FROM STDIN") as copy:
            for scope, (status_code, body) in answers:
                row = (scope.principal, scope.key, scope.endpoint, scope.request_hash, status_code)
                copy.write_row((*row, json.dumps(body), now))


def _keys_filter(scopes: Iterable[Scope]) -> Q | None:
    by_principal: dict[str, set[str]] = {}
    for scope in scopes:
        by_principal.setdefault(scope.principal, set()).add(scope.key)
    match = None
    for principal, keys in by_principal.items():
        part = Q(principal=principal, key__any_of=sorted(keys))
        match = part if match is None else match | part
    return match
