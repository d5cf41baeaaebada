"""The OpenAPI schema and the docs page, served without any network access."""

import pytest
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

pytestmark = pytest.mark.django_db

ENDPOINTS = {
    "/api/v1/requests/": {"get", "post"},
    "/api/v1/requests/{id}/": {"get"},
    "/api/v1/requests/{id}/events/": {"get"},
    "/api/v1/events/": {"post"},
    "/api/v1/events/batch/": {"post"},
    "/api/v1/broadcasts/": {"post"},
    "/api/v1/notifications/": {"get"},
    "/api/v1/notifications/read/": {"post"},
    "/api/v1/ws-tickets/": {"post"},
    "/api/v1/presence/": {"get"},
}


def test_schema_endpoint_answers(client):
    """GET /api/schema/ answers 200 with an OpenAPI document, to anyone."""
    response = client.get(reverse("schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert "openapi" in response.json()


def test_docs_page_uses_local_assets(client):
    """GET /api/docs/ answers 200 and loads Swagger UI from this site, not a CDN."""
    response = client.get(reverse("api-docs"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "swagger-ui" in page
    assert "cdn" not in page.lower()


def test_schema_documents_every_endpoint_and_validates():
    """Every PROTOCOL section 2 route (and the batch extension) is in the schema, and the schema is valid OpenAPI."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(schema)
    api_paths = {
        path: set(ops) - {"parameters"} for path, ops in schema["paths"].items() if path.startswith("/api/v1/")
    }
    assert api_paths == ENDPOINTS


def test_schema_names_the_status_codes_and_security():
    """Publishing answers 202, creating 201, and the token scheme is declared."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    assert "202" in schema["paths"]["/api/v1/events/"]["post"]["responses"]
    assert "201" in schema["paths"]["/api/v1/requests/"]["post"]["responses"]
    assert "serviceToken" in schema["components"]["securitySchemes"]
