"""Bodies that Python's JSON parser takes but nothing can store or send back answer 400, and store nothing."""

import json

import pytest
from django.urls import reverse

from notifications.api.parsers import SafeJSONParser
from notifications.api.views import ApiView
from notifications.models import Event, IdempotencyRecord, TrackedRequest
from notifications.protocol.jsonsafe import MAX_DEPTH
from project.urls import urlpatterns

pytestmark = pytest.mark.django_db

LONE_SURROGATE = '"\\ud800"'  # JSON text whose string decodes to a lone surrogate


def post_raw(client, name: str, text: str | bytes, **extra):
    """POST `text` exactly as given (so `1e400`, `NaN` and `\\ud800` reach the server literally)."""
    return client.post(reverse(name), text, content_type="application/json", **extra)


def status_body(tracked, data_text: str) -> str:
    return f'{{"request": "{tracked.id}", "status": "processing", "data": {data_text}}}'


def assert_refused(response, field: str) -> None:
    """A 400 whose JSON `detail` starts with the field's name (`errors` names it too)."""
    assert response.status_code == 400, response.content
    body = json.loads(response.content.decode("utf-8"))
    assert body["detail"].startswith(f"{field}: "), body
    assert list(body["errors"]) == [field]


@pytest.mark.parametrize(
    ("data_text", "field", "reason"),
    [
        (f'{{"k": {LONE_SURROGATE}}}', "data.k", "lone surrogates"),
        ('{"k": "a\\u0000b"}', "data.k", "NUL"),
        ('{"k": 1e400}', "data.k", "finite"),
        ('{"k": -1e400}', "data.k", "finite"),
        ('{"k": [1, NaN]}', "data.k[1]", "finite"),
        ('{"k": {"deep": Infinity}}', "data.k.deep", "finite"),
        (f"{{{LONE_SURROGATE}: 1}}", "data.\\ud800", "lone surrogates"),
    ],
)
def test_poison_in_data_is_400_naming_its_path(publisher, alice_request, data_text, field, reason):
    """A lone surrogate, NUL or non-finite number anywhere in `data` answers 400 naming it; nothing is stored."""
    response = post_raw(publisher, "api:event-publish", status_body(alice_request, data_text))
    assert_refused(response, field)
    assert reason in response.json()["detail"]
    assert alice_request.events.count() == 1


def test_poison_in_a_batch_names_the_item(publisher, alice_request):
    """In a batch the refused value is named with its item: `events[1].data.k`; nothing of the batch is stored."""
    good = f'{{"request": "{alice_request.id}", "status": "processing"}}'
    bad = f'{{"request": "{alice_request.id}", "status": "processing", "data": {{"k": 1e400}}}}'
    response = post_raw(publisher, "api:event-publish-batch", f'{{"events": [{good}, {bad}]}}')
    assert_refused(response, "events[1].data.k")
    assert alice_request.events.count() == 1


@pytest.mark.parametrize(
    ("name", "client_fixture", "text", "field"),
    [
        ("api:request-list", "publisher", f'{{"title": {LONE_SURROGATE}, "user": "alice"}}', "title"),
        ("api:request-list", "publisher", '{"title": "t", "user": "al\\u0000ice"}', "user"),
        ("api:event-publish", "publisher", '{"request": "x", "status": "processing", "message": "\\u0000"}', "message"),
        ("api:broadcast", "broadcaster", f'{{"title": "t", "body": {LONE_SURROGATE}}}', "body"),
        ("api:broadcast", "broadcaster", f'{{"title": "t", "level": {LONE_SURROGATE}}}', "level"),
        ("api:notification-read", "alice_client", f'{{"up_to": {LONE_SURROGATE}}}', "up_to"),
        ("api:ws-ticket", "alice_client", f'{{"user": {LONE_SURROGATE}}}', "user"),
        ("api:ws-ticket", "alice_client", '{"user": 1e400}', "user"),
    ],
)
def test_every_endpoint_refuses_poison_naming_the_field(request, alice, name, client_fixture, text, field):
    """Every endpoint that takes a body refuses unsafe strings and numbers in any field with a 400 naming it."""
    client = request.getfixturevalue(client_fixture)
    response = post_raw(client, name, text)
    assert_refused(response, field)
    assert not TrackedRequest.objects.exists()
    assert not Event.objects.filter(kind="announcement").exists()


@pytest.fixture
def alice_client(signed_in, alice):
    return signed_in(alice)


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 20_000])
def test_deep_nesting_is_400_not_a_server_error(publisher, alice_request, depth):
    """A body nested past MAX_DEPTH, even 20,000 deep, answers a JSON 400 and stores nothing."""
    data_text = "[" * depth + "]" * depth
    response = post_raw(publisher, "api:event-publish", status_body(alice_request, data_text))
    assert response.status_code == 400
    assert "nested" in response.json()["detail"].lower()
    assert alice_request.events.count() == 1


@pytest.mark.parametrize("text", ["NaN", "Infinity", "1e400", LONE_SURROGATE])
def test_a_poison_body_itself_is_a_parse_error(publisher, text):
    """A body that is nothing but a bad value has no field to name: a 400 parse_error."""
    response = post_raw(publisher, "api:event-publish", text)
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_invalid_utf8_is_400(publisher, alice_request):
    """Bytes that are not UTF-8 (here an encoded surrogate) answer a parse error, not a 500."""
    text = status_body(alice_request, '{"k": "X"}').encode().replace(b"X", b"\xed\xa0\x80")
    response = post_raw(publisher, "api:event-publish", text)
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    assert alice_request.events.count() == 1


def test_poison_with_an_idempotency_key_is_refused_and_not_remembered(publisher, alice_request):
    """A refused poison body leaves no idempotency record: the corrected retry with the key acts."""
    bad = post_raw(publisher, "api:event-publish", status_body(alice_request, '{"k": 1e400}'), HTTP_IDEMPOTENCY_KEY="p")
    assert bad.status_code == 400
    assert not IdempotencyRecord.objects.exists()
    good = post_raw(publisher, "api:event-publish", status_body(alice_request, '{"k": 1}'), HTTP_IDEMPOTENCY_KEY="p")
    assert good.status_code == 202


def test_the_stream_still_reads_after_poison_was_refused(publisher, signed_in, alice, alice_request):
    """After a refused poison publish, the owner's stream and the request's history answer 200."""
    post_raw(publisher, "api:event-publish", status_body(alice_request, f'{{"k": {LONE_SURROGATE}}}'))
    client = signed_in(alice)
    assert client.get(reverse("api:notification-list")).status_code == 200
    assert client.get(reverse("api:request-events", args=[alice_request.id])).status_code == 200


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "multipart/form-data; boundary=b"])
def test_form_bodies_are_415(publisher, alice_request, content_type):
    """Only JSON bodies are taken: a form or multipart post answers 415 and stores nothing."""
    response = publisher.post(reverse("api:event-publish"), "status=queued", content_type=content_type)
    assert response.status_code == 415
    assert alice_request.events.count() == 1


def api_views():
    """Yield every view class mounted under /api/v1/."""
    [api] = [pattern for pattern in urlpatterns if str(pattern.pattern) == "api/v1/"]
    for pattern in api.url_patterns:
        yield pattern.callback.view_class


def test_every_api_view_parses_with_the_safe_parser():
    """No endpoint of /api/v1/ falls back to DRF's default parsers (which take NaN and forms)."""
    views = list(api_views())
    assert views
    for view in views:
        assert issubclass(view, ApiView), view
        assert view.parser_classes == [SafeJSONParser], view
