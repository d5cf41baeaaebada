"""Every error is JSON `{"detail", "code"}`; validation errors name their fields."""

import pytest
from django.db import IntegrityError, OperationalError
from django.urls import reverse
from rest_framework import exceptions

from notifications.api.errors import error_body, exception_handler
from notifications.errors import Conflict, NotFound
from notifications.store import actions

pytestmark = pytest.mark.django_db


def test_validation_error_names_every_field():
    """The detail names each field with its message; `errors` keeps DRF's per-field lists."""
    exc = exceptions.ValidationError({"title": ["This field is required."], "level": ["Bad."]})
    body = error_body(exc)
    assert body["detail"] == "title: This field is required.; level: Bad."
    assert body["code"] == "invalid"
    assert body["errors"] == {"title": ["This field is required."], "level": ["Bad."]}


def test_nested_and_non_field_errors_read_naturally():
    """Nested fields are dotted; errors about the whole body carry no field name."""
    exc = exceptions.ValidationError({"non_field_errors": ["Whole body wrong."], "data": {"x": ["Bad."]}})
    assert error_body(exc)["detail"] == "Whole body wrong.; data.x: Bad."


@pytest.mark.parametrize(
    ("error", "status", "code"), [(NotFound(), 404, "not_found"), (Conflict("Done."), 409, "conflict")]
)
def test_service_errors_keep_their_status_and_code(error, status, code):
    """Our own ServiceError subclasses answer their status with their machine-readable code."""
    response = exception_handler(error, {})
    assert response.status_code == status
    assert response.data == {"detail": error.detail, "code": code}


def test_lost_database_is_503():
    """A database that cannot be reached answers 503 instead of a 500 page."""
    response = exception_handler(OperationalError("connection refused"), {})
    assert response.status_code == 503
    assert response.data == {"detail": "database unavailable", "code": "database_unavailable"}


def test_integrity_errors_stay_unhandled():
    """A broken invariant is a bug: the handler leaves it to Django's 500."""
    assert exception_handler(IntegrityError("duplicate"), {}) is None


def test_database_outage_during_a_view_is_503(publisher, alice_request, monkeypatch):
    """An OperationalError raised inside an action reaches the client as 503 JSON."""

    def unreachable(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(actions, "do_publish_statuses", unreachable)
    body = {"request": str(alice_request.id), "status": "processing"}
    response = publisher.post(reverse("api:event-publish"), body, format="json")
    assert response.status_code == 503
    assert response.json()["detail"] == "database unavailable"


def test_body_over_the_upload_limit_is_413(publisher, alice_request, settings):
    """A body over DATA_UPLOAD_MAX_MEMORY_SIZE answers 413 and stores nothing."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = {"request": str(alice_request.id), "status": "processing", "message": "x" * 900, "data": {"y": "z" * 900}}
    response = publisher.post(reverse("api:event-publish"), body, format="json")
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert alice_request.events.count() == 1


def test_malformed_json_is_400(publisher):
    """A body that is not JSON answers 400 with a JSON detail."""
    response = publisher.post(reverse("api:event-publish"), "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_non_json_content_type_is_415(publisher):
    """Bodies are JSON only: a form post answers 415."""
    response = publisher.post(reverse("api:event-publish"), {"status": "queued"})
    assert response.status_code == 415
