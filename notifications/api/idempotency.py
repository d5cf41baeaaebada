"""`Idempotency-Key` on REST: the header's key in the store's one namespace (see `store/idempotency.py`).

A retried POST answers its first answer instead of acting twice; the rules
(caller, endpoint, body hash, expiry, races) live in the store, shared with
the AMQP ingress's `message_id`.
"""

from collections.abc import Callable

from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from notifications.store import idempotency
from notifications.store.idempotency import MAX_KEY_LENGTH, Answer, Scope

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"

__all__ = ["IDEMPOTENCY_HEADER", "MAX_KEY_LENGTH", "REPLAYED_HEADER", "Answer", "get_key", "respond_once"]


def respond_once(request: Request, perform: Callable[[], Answer]) -> Response:
    """Return `perform`'s answer, or the stored first answer for a repeated key (422 if it was another call)."""
    key = get_key(request)
    if key is None:
        return _response(perform())
    answer, replayed = idempotency.act_once(get_scope(request, key), perform)
    return _response(answer, replayed=replayed)


def get_key(request: Request) -> str | None:
    """Return the request's idempotency key, None without one; raise 400 if it is unusable."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    key = key.strip()
    if not idempotency.is_usable_key(key):
        raise ValidationError({IDEMPOTENCY_HEADER: [f"Must be 1 to {MAX_KEY_LENGTH} printable characters."]})
    return key


def get_scope(request: Request, key: str) -> Scope:
    """Return the key's scope for this call; parses the body (a bad body answers 400 here)."""
    principal = idempotency.get_principal(request.user)
    return Scope(principal, key, request.path_info, idempotency.get_request_hash(request.data))


def _response(answer: Answer, replayed: bool = False) -> Response:
    status_code, body = answer
    headers = {REPLAYED_HEADER: "true"} if replayed else None
    return Response(body, status=status_code, headers=headers)
