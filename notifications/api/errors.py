"""Where every REST error becomes a response: JSON `{"detail": ..., "code": ...}`.

Validation errors also carry `errors` ({field: [messages]}) and name the
fields in `detail`, so both a person and a program see what to fix.
"""

import logging
from collections.abc import Iterator

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from notifications.errors import Conflict, ServiceError

logger = logging.getLogger(__name__)


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "database unavailable"
    default_code = "database_unavailable"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is over DATA_UPLOAD_MAX_MEMORY_SIZE."
    default_code = "payload_too_large"


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """Render DRF's, Django's and our own errors; return None (a 500) for anything else."""
    api_exc = as_api_exception(exc)
    response = drf_exception_handler(api_exc, context)
    if response is not None:
        response.data = {**error_body(api_exc), **error_extras(exc)}
    return response


def error_extras(exc: Exception) -> dict:
    """Return what an error adds to the body besides `detail` and `code`: a conflict's `current` state."""
    if isinstance(exc, Conflict) and exc.current is not None:
        return {"current": exc.current}
    return {}


def as_api_exception(exc: Exception) -> Exception:
    """Return the DRF exception that stands for `exc`, or `exc` itself when none does."""
    if isinstance(exc, ServiceError):
        api_exc = exceptions.APIException(detail=exc.detail, code=exc.default_code)
        api_exc.status_code = exc.status_code
        return api_exc
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, PermissionDenied):
        return exceptions.PermissionDenied(*exc.args)
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge()
    # A lost or refused connection, not a bug: integrity and programming errors stay 500s.
    if isinstance(exc, OperationalError | InterfaceError):
        # The driver's message names the cause (refused, timeout, deadlock) and carries no credentials.
        logger.warning("database unavailable: %s: %s", exc.__class__.__name__, str(exc).splitlines()[0][:200])
        return ServiceUnavailable()
    return exc


def error_body(exc: exceptions.APIException) -> dict:
    """Return the JSON body of an error response."""
    if isinstance(exc, exceptions.ValidationError):
        messages = [f"{field}: {message}" if field else message for field, message in field_messages(exc.detail)]
        return {"detail": "; ".join(messages) or "Invalid input.", "code": "invalid", "errors": exc.detail}
    return {"detail": str(exc.detail), "code": getattr(exc.detail, "code", None) or exc.default_code}


def field_messages(detail, path: str = "") -> Iterator[tuple[str, str]]:
    """Yield (dotted field path, message) for every message of a validation error's detail."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            if isinstance(key, int):  # an item of a list body: `events[2].status`
                yield from field_messages(value, f"{path}[{key}]")
                continue
            name = "" if key == "non_field_errors" else str(key)
            yield from field_messages(value, f"{path}.{name}" if path and name else path or name)
    elif isinstance(detail, list):
        for item in detail:
            yield from field_messages(item, path)
    else:
        yield path, str(detail)
