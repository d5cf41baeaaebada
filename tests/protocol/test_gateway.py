"""The `request` frame of PROTOCOL 5.1: what the edge accepts and refuses, and the `response` frame."""

import json

import pytest

from notifications.errors import BadFrame, FrameForbidden
from notifications.protocol import frames, gateway
from notifications.protocol.gateway import NO_BODY


def parse(**fields):
    return frames.parse_client_frame(json.dumps({"type": "request", "ref": "r1", **fields}))


def test_a_local_request_is_checked_and_keeps_its_ref():
    """A GET under /api/v1/ with a query yields a GatewayRequest without a service and without a body."""
    frame = parse(method="GET", path="/api/v1/requests/?page=2")
    request = frame.fields["request"]
    assert frame.ref == "r1" and request.method == "GET" and request.path == "/api/v1/requests/?page=2"
    assert request.service is None and request.body is NO_BODY and request.content == b""


def test_the_body_is_any_json_and_is_sent_as_utf8_json():
    """A body (object, list, null...) is kept and encoded compactly; `null` is a body, absence is none."""
    request = parse(method="POST", path="/api/v1/requests/", body={"title": "é"}).fields["request"]
    assert request.content == '{"title":"é"}'.encode()
    assert parse(method="POST", path="/api/v1/x/", body=None).fields["request"].content == b"null"


@pytest.mark.parametrize("method", ["get", "HEAD", "OPTIONS", 1, None, "TRACE"])
def test_a_bad_method_is_a_bad_request(method):
    """Only GET POST PUT PATCH DELETE, in capitals."""
    with pytest.raises(BadFrame) as caught:
        parse(method=method, path="/api/v1/requests/")
    assert frames.ref_of(caught.value) == "r1" and caught.value.default_code == "bad_request"


def test_a_path_outside_the_api_is_forbidden_with_the_ref():
    """Without a service only /api/v1/ is served: /admin/ is `forbidden`, with the ref."""
    for path in ("/admin/", "/api/v2/x", "/api/v1", "/accounts/logout/"):
        with pytest.raises(FrameForbidden) as caught:
            parse(method="GET", path=path)
        assert caught.value.default_code == "forbidden" and frames.ref_of(caught.value) == "r1"


@pytest.mark.parametrize(
    "path",
    [
        "api/v1/requests/",
        "/api/v1/../admin/",
        "/api/v1/./x",
        "/api/v1/a b",
        "/api/v1/\x00",
        "/api/v1/\ud800",
        "/api/v1/é",
        "/api/v1/x#frag",
        "/api/v1/x\\y",
        "/api/v1/" + "a" * 3000,
        7,
        None,
    ],
)
def test_a_malformed_path_is_a_bad_request(path):
    """Relative, dot segments, spaces, NUL, lone surrogates, non-ASCII, fragments, backslashes, too long, no string."""
    with pytest.raises(BadFrame) as caught:
        frames.parse_client_frame(json.dumps({"type": "request", "method": "GET", "path": path}))
    assert caught.value.default_code == "bad_request"


def test_a_lone_surrogate_anywhere_refuses_the_frame():
    """A body with a lone surrogate never gets past the JSON edge."""
    with pytest.raises(BadFrame):
        frames.parse_client_frame('{"type":"request","method":"POST","path":"/api/v1/x/","body":{"t":"\\ud800"}}')


def test_a_service_request_may_use_any_path():
    """With a service the path is the upstream's: any checked path, kept with its query."""
    request = parse(method="DELETE", path="/orders/7?force=1", service="billing").fields["request"]
    assert request.service == "billing" and request.path == "/orders/7?force=1"


@pytest.mark.parametrize("service", ["", "bad name", "x" * 65, 3, "../x"])
def test_a_malformed_service_name_is_a_bad_request(service):
    with pytest.raises(BadFrame):
        parse(method="GET", path="/x", service=service)


def test_only_two_headers_are_allowed_and_named_canonically():
    """Idempotency-Key and Accept-Language, any case, become their canonical names."""
    headers = {"idempotency-key": "k1", "Accept-Language": "fr"}
    request = parse(method="POST", path="/api/v1/events/", headers=headers).fields["request"]
    assert request.headers == {"Idempotency-Key": "k1", "Accept-Language": "fr"}


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Token x"},
        {"Cookie": "a=b"},
        {"Idempotency-Key": 5},
        {"Idempotency-Key": ""},
        {"Idempotency-Key": "a\r\nX-Evil: 1"},
        {"Accept-Language": "x" * 300},
        ["Idempotency-Key"],
    ],
)
def test_any_other_header_or_value_is_a_bad_request(headers):
    """No Authorization, no Cookie, string values of bounded printable ASCII only."""
    with pytest.raises(BadFrame) as caught:
        parse(method="GET", path="/api/v1/requests/", headers=headers)
    assert frames.ref_of(caught.value) == "r1"


def test_the_response_frame_and_its_overhead():
    """`response` carries type, ref, status and body; the overhead measures everything but the body."""
    text = gateway.response("r1", 201, {"id": "x"})
    assert json.loads(text) == {"type": "response", "ref": "r1", "status": 201, "body": {"id": "x"}}
    body = {"k": "v" * 10}
    assert len(gateway.response("r1", 200, body).encode()) == gateway.response_overhead("r1") + len(
        json.dumps(body, separators=(",", ":"))
    )


def test_bodies_are_parsed_when_json_else_kept_as_text():
    """JSON content types parse (unless unsafe); anything else is a string; empty is None."""
    assert gateway.parse_body(b'{"a": 1}', "application/json; charset=utf-8") == {"a": 1}
    assert gateway.parse_body(b'{"a": NaN}', "application/json") == '{"a": NaN}'
    assert gateway.parse_body(b"<p>hi</p>", "text/html") == "<p>hi</p>"
    assert gateway.parse_body(b"\xff\x00", "text/plain") == "\ufffd\ufffd"
    assert gateway.parse_body(b"", "application/json") is None
