"""Bodies given as Python values (not JSON text) get the same checks as parsed ones, naming the field."""

import uuid

import pytest
from rest_framework.test import APIRequestFactory

from notifications.api import serializers

REQUEST_ID = str(uuid.uuid4())


def errors_of(serializer_class, data) -> dict:
    body = serializer_class(data=data, context={"request": APIRequestFactory().post("/")})
    assert not body.is_valid()
    return body.errors


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"k": float("inf")}, "data.k"),
        ({"k": [float("nan")]}, "data.k[0]"),
        ({"k": "\ud800"}, "data.k"),
        ({"k\x00": 1}, "data.k\\u0000"),
        ({"k": b"bytes"}, "data.k"),
    ],
)
def test_a_status_body_with_unsafe_values_names_the_field(data, field):
    """Non-finite numbers, lone surrogates, NUL and non-JSON values anywhere in a body are refused by path."""
    body = {"request": REQUEST_ID, "status": "processing", "data": data}
    assert list(errors_of(serializers.PublishStatusSerializer, body)) == [field]


def test_a_batch_names_the_item_of_an_unsafe_value():
    """In a batch body the path includes the item: `events[1].message`."""
    good = {"request": REQUEST_ID, "status": "queued"}
    items = [good, {**good, "message": "\x00"}]
    assert list(errors_of(serializers.PublishBatchSerializer, {"events": items})) == ["events[1].message"]


def test_deep_python_values_are_refused():
    """A value nested past MAX_DEPTH is refused before any field looks at it."""
    deep: list = []
    for _ in range(100):
        deep = [deep]
    body = {"request": REQUEST_ID, "status": "queued", "data": {"d": deep}}
    errors = errors_of(serializers.PublishStatusSerializer, body)
    [(path, [message])] = errors.items()
    assert path.startswith("data.d[0]")
    assert "deeply" in message
