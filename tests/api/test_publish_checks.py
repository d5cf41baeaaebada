"""The fast checks of a publish body answer exactly as PublishStatusSerializer does, or leave the body to it."""

import json
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework.exceptions import ValidationError

from notifications.api import ingress, publish_checks, serializers
from notifications.protocol import jsonsafe

REQUEST_ID = str(uuid.UUID(int=0x1234_5678_9ABC_DEF0_1234_5678_9ABC_DEF0))
SINGLE, BATCH = serializers.PublishStatusSerializer, serializers.PublishBatchSerializer
BASE = {"request": REQUEST_ID, "status": "processing", "progress": 10, "message": "Working", "data": {"k": 1}}

# Each field's values, valid and not: wrong types, ranges, lenient spellings, unicode edges.
VARIANTS = {
    "request": [
        REQUEST_ID,
        REQUEST_ID.upper(),
        REQUEST_ID.replace("-", ""),
        "{" + REQUEST_ID + "}",
        "urn:uuid:" + REQUEST_ID,
        " " + REQUEST_ID.replace("-", "")[1:],
        "+" + REQUEST_ID.replace("-", "")[1:],
        REQUEST_ID + "0",
        "",
        "not-a-uuid",
        "\u0661" * 32,
        5,
        -1,
        2**128,
        True,
        1.5,
        None,
        [REQUEST_ID],
        {"id": REQUEST_ID},
    ],
    "status": ["queued", "processing", "succeeded", "failed", "cancelled", "QUEUED", " queued", "", "done"]
    + [None, 1, True, 0.0, ["queued"], {"s": "queued"}],
    "progress": [0, 1, 100, -1, 101, 10**30, 50.0, 50.5, 1e2, 1e400, "50", "50.0", " 50 ", "5_0", "\uff15\uff10"]
    + ["x" * 1001, True, False, None, [], {}],
    "message": [
        "",
        "   ",
        " padded \t",
        "\u3000wide space\u3000",
        "\x85next line\x1f",
        "é\u0301 ünïcödé 🎉",
        "x" * 1000,
        "x" * 1001,
        " " + "x" * 1000 + " ",
        "\x00",
        "a\x00b",
        "\ud800",
        "\udfff tail",
        "\U0010ffff",
        5,
        0,
        1.5,
        True,
        None,
        [],
        {},
    ],
    "data": [
        {},
        {"a": None},
        {"nested": {"list": [1, 2.5, "x", None, True]}},
        {"k": "x" * (16 * 1024 - 8)},
        {"k": "x" * (16 * 1024)},
        {"k": "é" * (8 * 1024)},
        {"k": float("nan")},
        {"k": float("inf")},
        {"k": "\ud800"},
        {"k\x00": 1},
        {1: "int key"},
        {"deep": json.loads("[" * 40 + "]" * 40)},
        None,
        [],
        "text",
        5,
        True,
    ],
}


def bodies() -> list:
    """Every variant of every field in an otherwise valid body, each field left out, and odd bodies."""
    cases = [dict(BASE)]
    for field, values in VARIANTS.items():
        cases.append({key: value for key, value in BASE.items() if key != field})
        cases.extend({**BASE, field: value} for value in values)
    cases += [{"request": REQUEST_ID, "status": "queued"}, {**BASE, "unknown": 1}, {**BASE, "unknown": float("nan")}]
    cases += [{**BASE, "status": None, "progress": -1, "message": None}, {}, None, [], [BASE], "text", 5, True]
    cases += [{**BASE, "extra": json.loads("[" * 40 + "]" * 40)}, {**BASE, "e\ud800": 1}]
    return cases


def json_checked(cases: list) -> list:
    """The cases `jsonsafe.loads` could have given (what the ingress and the REST parser pass on)."""
    checked = []
    for case in cases:
        try:
            jsonsafe.check(case)
        except jsonsafe.UnsafeJSON:
            continue
        checked.append(case)
    return checked


def serializer_outcome(serializer_class, body, checked: bool):
    context = {serializers.JSON_CHECKED: True} if checked else {}
    try:
        return "valid", serializer_class(context=context).run_validation(body)
    except ValidationError as exc:
        return "invalid", exc.detail


def assert_same_answer(fast_check, serializer_class, body, checked: bool) -> bool:
    """Whenever the fast check answers, its answer is the serializer's: same keys, order, values and types."""
    try:
        fields = fast_check(body, json_checked=checked)
    except Exception as exc:  # only for bodies wrongly said to be checked: the serializer fails the same way
        with pytest.raises(type(exc)):
            serializer_outcome(serializer_class, body, checked)
        return False
    if fields is None:
        return False
    outcome, expected = serializer_outcome(serializer_class, body, checked)
    assert outcome == "valid", (body, expected)
    assert fields == expected and list(fields) == list(expected)
    assert describe(fields) == describe(expected)
    assert not any(_shares_data(item, source) for item, source in _items(fields, body)), "data must be a copy"
    return True


def _items(fields: dict, body) -> list[tuple]:
    if "events" in fields:
        return list(zip(fields["events"], body["events"], strict=True))
    return [(fields, body)]


def _shares_data(fields: dict, body: dict) -> bool:
    return "data" in body and fields["data"] is body["data"]


def describe(value):
    """Return the value's shape with every type spelled out, so `1 == 1.0 == True` cannot hide a difference."""
    if isinstance(value, dict):
        return {key: describe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [describe(item) for item in value]
    return type(value), value


@pytest.mark.parametrize("checked", [True, False])
def test_every_case_answered_fast_is_the_serializers_answer(checked):
    """Valid and invalid bodies alike: where the fast check answers, the serializer gives the same fields.

    Also for bodies wrongly said to be JSON-checked: the fields' own checks still hold.
    """
    answered = [body for body in bodies() if assert_same_answer(publish_checks.valid_fields, SINGLE, body, checked)]
    assert len(answered) > 30


def test_plain_valid_bodies_are_answered_fast():
    """What publishers send (W2, W5 and the docs' bodies) takes the fast path, with every field's default."""
    plain = [
        {"request": REQUEST_ID, "status": "processing", "message": "1764611111.123"},
        {"request": REQUEST_ID, "status": "succeeded", "data": {"url": "/f"}},
        {"request": REQUEST_ID, "status": "processing", "progress": 50, "message": " Half ", "data": {}},
    ]
    for body in plain:
        assert publish_checks.valid_fields(body, json_checked=True) is not None
    assert publish_checks.valid_fields(plain[0], json_checked=True) == {
        "request": uuid.UUID(REQUEST_ID),
        "status": "processing",
        "message": "1764611111.123",
        "data": {},
    }


def test_refusals_and_lenient_spellings_are_left_to_the_serializer():
    """A bad field, or a value only the serializer's leniency accepts, is not answered by the fast check."""
    for body in [{**BASE, "progress": "50"}, {**BASE, "request": 5}, {**BASE, "message": 5}, {**BASE, "status": "x"}]:
        assert publish_checks.valid_fields(body, json_checked=True) is None


def test_the_data_limit_is_read_when_checking(settings):
    """NOTIFY_MAX_EVENT_DATA_BYTES applies at once, to the empty default object too."""
    settings.NOTIFY_MAX_EVENT_DATA_BYTES = 1
    assert publish_checks.valid_fields({"request": REQUEST_ID, "status": "queued"}, json_checked=True) is None
    assert serializer_outcome(SINGLE, {"request": REQUEST_ID, "status": "queued"}, True)[0] == "invalid"


def test_the_fast_checks_know_every_field_of_the_serializer():
    """A field added to the serializer must be taught to the fast checks too (else it would be skipped)."""
    fields = serializers.PublishStatusSerializer().fields
    assert list(fields) == ["request", "status", "progress", "message", "data"]
    assert [type(field).__name__ for field in fields.values()] == [
        "UUIDField",
        "ChoiceField",
        "IntegerField",
        "CharField",
        "DictField",
    ]
    message, data, progress = fields["message"], fields["data"], fields["progress"]
    assert (message.required, message.allow_blank, message.trim_whitespace, message.default) == (False, True, True, "")
    assert (data.required, data.default, data.allow_empty, type(data.child).__name__) == (
        False,
        dict,
        True,
        "_UnvalidatedField",
    )
    assert (progress.required, fields["request"].required, fields["status"].required) == (False, True, True)
    assert not any(field.allow_null for field in fields.values())
    assert list(serializers.PublishBatchSerializer().fields) == ["events"]


def batch_bodies() -> list:
    good = [dict(BASE), {"request": REQUEST_ID, "status": "queued"}]
    cases = [{"events": good}, {"events": good * 250}, {"events": good * 250 + good[:1]}, {"events": []}]
    cases += [{"events": [*good, case]} for case in bodies()[1:]]
    cases += [{"events": good, "other": 1}, {"events": None}, {"events": {"0": BASE}}, {"events": "x"}, {}, None, []]
    cases += [{"events": [*good, {**BASE, "data": {"k": float("nan")}}]}, {"events": good, "other": float("inf")}]
    return cases


@pytest.mark.parametrize("checked", [True, False])
def test_every_batch_answered_fast_is_the_serializers_answer(checked):
    """A batch is answered only when every item is, and then as PublishBatchSerializer answers it."""
    cases = batch_bodies()
    answered = [body for body in cases if assert_same_answer(publish_checks.valid_batch_fields, BATCH, body, checked)]
    assert len(answered) > 30


def test_the_ingress_refuses_as_the_serializer_does():
    """The ingress's refusal of each case (status and detail) is the one the serializer's error gives."""
    checks = ingress.BatchChecks()
    for body in json_checked(bodies()):
        outcome, expected = serializer_outcome(SINGLE, body, True)
        try:
            fields = checks.validate(body)
        except ingress.Refused as refused:
            assert outcome == "invalid"
            assert refused.refusal == ingress.refusal_of(ValidationError(expected))
        else:
            assert (outcome, fields) == ("valid", expected)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=8,
)
FIELD_VALUES = {
    "request": st.sampled_from(VARIANTS["request"]) | st.uuids().map(str) | st.text(max_size=40),
    "status": st.sampled_from(VARIANTS["status"]) | st.text(max_size=10),
    "progress": st.sampled_from(VARIANTS["progress"]) | st.integers(-5, 105) | st.floats() | st.text(max_size=5),
    "message": st.sampled_from(VARIANTS["message"]) | st.text() | st.integers(),
    "data": st.sampled_from(VARIANTS["data"]) | st.dictionaries(st.text(max_size=5), JSON_VALUES, max_size=4),
}
BODIES = st.fixed_dictionaries({}, optional={**FIELD_VALUES, "other": JSON_VALUES}) | JSON_VALUES


@settings(max_examples=500, deadline=None, database=None)
@given(BODIES, st.booleans())
def test_generated_bodies_are_answered_as_the_serializer_does(body, checked):
    """Any body, said to be JSON-checked or not: a fast answer is always the serializer's."""
    assert_same_answer(publish_checks.valid_fields, SINGLE, body, checked)
    assert_same_answer(publish_checks.valid_batch_fields, BATCH, {"events": [body]}, checked)
