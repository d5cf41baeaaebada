"""The OpenAPI schema and the docs page, served without any network access."""

import re

import pytest
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

pytestmark = pytest.mark.django_db

ENDPOINTS = {
    "/api/v1/requests/": {"get", "post"},
    "/api/v1/requests/{id}/": {"get"},
    "/api/v1/requests/{id}/events/": {"get"},
    "/api/v1/requests/{id}/delivery/": {"get"},
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


def docs_assets(client) -> list[str]:
    """Return every URL the docs page loads (scripts, styles, icons)."""
    response = client.get(reverse("api-docs"))
    assert response.status_code == 200
    return re.findall(r'(?:src|href)\s*=\s*"([^"]+)"', response.content.decode())


def fetch(client, url: str) -> tuple[int, str, bytes]:
    response = client.get(url)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response.status_code, response.get("Content-Type", ""), body


def test_docs_page_loads_swagger_ui_from_this_site(client):
    """Every asset of /api/docs/ is a path on this site, and each answers 200: the UI works offline."""
    assets = docs_assets(client)
    scripts = [url for url in assets if url.split("?")[0].endswith(".js")]
    assert any("swagger-ui-bundle" in url for url in scripts), assets
    for url in assets:
        assert url.startswith("/") and not url.startswith("//"), f"{url} is not served by this site"
        status, _, body = fetch(client, url)
        assert status == 200, url
        assert body, url
    for url in scripts:
        _, content_type, body = fetch(client, url)
        assert "javascript" in content_type, (url, content_type)
        assert len(body) > 1000, url


def test_docs_page_points_at_the_served_schema(client):
    """The page's Swagger UI is configured with /api/schema/, which answers an OpenAPI document."""
    page = client.get(reverse("api-docs")).content.decode()
    assert reverse("schema") in page
    response = client.get(reverse("schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.json()["paths"]


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


def operation(schema: dict, path: str, method: str = "post") -> dict:
    return schema["paths"][path][method]


@pytest.mark.parametrize(
    ("path", "codes"),
    [
        ("/api/v1/events/", {"202", "400", "404", "409", "422"}),
        ("/api/v1/events/batch/", {"202", "400", "404", "409", "422"}),
        ("/api/v1/requests/", {"201", "400", "422"}),
        ("/api/v1/broadcasts/", {"202", "400", "422"}),
    ],
)
def test_schema_documents_the_error_answers(path, codes):
    """Publishing documents 409 (a forbidden status move, with `current`) and 422 (a reused Idempotency-Key)."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    responses = operation(schema, path)["responses"]
    assert codes <= set(responses), sorted(responses)
    if "409" in codes:
        conflict = responses["409"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
        assert "current" in schema["components"]["schemas"][conflict]["properties"]
        assert "progress never decreases" in responses["409"]["description"]
    assert "another body" in responses["422"]["description"]


@pytest.mark.parametrize(
    "path", ["/api/v1/events/", "/api/v1/events/batch/", "/api/v1/requests/", "/api/v1/broadcasts/"]
)
def test_schema_documents_the_idempotency_key_header(path):
    """Each idempotent POST takes an optional Idempotency-Key header, described with its scope and 422."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    [header] = [p for p in operation(schema, path)["parameters"] if p["name"] == "Idempotency-Key"]
    assert header["in"] == "header"
    assert header.get("required", False) is False
    assert "422" in header["description"]
