"""Errors with a machine-readable code, raised inside and rendered at the edges.

The REST exception handler (`api/errors.py`) turns them into JSON responses;
the consumer turns `FrameError`s into `error` frames.
"""


class ServiceError(Exception):
    status_code = 400
    default_detail = "The request was refused."
    default_code = "bad_request"

    def __init__(self, detail: str | None = None, index: int | None = None):
        self.detail = detail or self.default_detail
        # Which item of a batch was refused (None outside batches).
        self.index = index
        super().__init__(self.detail)


class NotFound(ServiceError):
    status_code = 404
    default_detail = "Not found."
    default_code = "not_found"


class Conflict(ServiceError):
    status_code = 409
    default_detail = "The request is in a state that does not allow this."
    default_code = "conflict"

    def __init__(self, detail: str | None = None, index: int | None = None, current: dict | None = None):
        super().__init__(detail, index)
        # The state that refused the change (`status`, `progress`), so a caller can catch up from it.
        self.current = current


class IdempotencyKeyReused(ServiceError):
    status_code = 422
    default_detail = "This Idempotency-Key was already used for another request."
    default_code = "idempotency_key_reused"


class FrameError(ServiceError):
    """A client frame that is refused with an `error` frame; the socket stays open."""

    default_code = "bad_request"


class BadFrame(FrameError):
    default_detail = "The frame is not valid."


class UnknownFrameType(FrameError):
    default_code = "unknown_type"
    default_detail = "Unknown frame type."


class FrameNotFound(FrameError):
    default_code = "not_found"
    default_detail = "Not found."


class RateLimited(FrameError):
    default_code = "rate_limited"
    default_detail = "Too many frames; slow down."


class FrameForbidden(FrameError):
    default_code = "forbidden"
    default_detail = "This is not allowed on a socket."
