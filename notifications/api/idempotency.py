"""`Idempotency-Key`: a retried POST answers its first answer instead of acting twice.

The answer is stored in the same transaction as the action it describes, so
either both exist or neither does. Two concurrent requests with one key race
on the unique (principal, key) constraint: the loser's action rolls back and
it answers the winner's stored answer. Failures (4xx raised before or inside
the action) are not stored, so a corrected retry can still succeed.
"""

from collections.abc import Callable

from django.db import IntegrityError, transaction
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from notifications.api.permissions import is_service
from notifications.models import IdempotencyRecord

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 200

Answer = tuple[int, dict]


def respond_once(request: Request, perform: Callable[[], Answer]) -> Response:
    """Return `perform`'s answer, or the stored first answer for a repeated key."""
    key = get_key(request)
    if key is None:
        return _response(perform())
    principal = get_principal(request.user)
    stored = get_stored_answer(principal, key)
    if stored is not None:
        return _response(stored, replayed=True)
    try:
        with transaction.atomic():
            answer = perform()
            IdempotencyRecord.objects.create(principal=principal, key=key, status_code=answer[0], body=answer[1])
    except IntegrityError:
        stored = get_stored_answer(principal, key)
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


def get_principal(principal) -> str:
    """Return whose keys these are: keys of different callers never collide."""
    return f"service:{principal.pk}" if is_service(principal) else f"user:{principal.pk}"


def get_stored_answer(principal: str, key: str) -> Answer | None:
    record = IdempotencyRecord.objects.filter(principal=principal, key=key).first()
    return None if record is None else (record.status_code, record.body)


def _response(answer: Answer, replayed: bool = False) -> Response:
    status_code, body = answer
    headers = {REPLAYED_HEADER: "true"} if replayed else None
    return Response(body, status=status_code, headers=headers)
