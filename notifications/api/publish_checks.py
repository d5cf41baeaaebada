"""A publish body checked without DRF's per-field machinery, for the hot paths (AMQP ingress, batch publishing).

`PublishStatusSerializer` stays the definition: the limits are read from its
fields, and only a body in the plain spelling the serializer certainly
accepts (`request` a UUID string, `status` a choice, `progress` an int in
range, `message` a string, `data` an object within its size) is answered
here, with the serializer's own result. Anything else, a refusal or a
lenient spelling such as `"progress": "50"`, returns None and the caller
asks the serializer, so every 400 stays the serializer's, word for word.
"""

import functools
import re
import uuid
from dataclasses import dataclass

from notifications import conf
from notifications.api import serializers
from notifications.protocol import jsonsafe

_MISSING = object()
_SURROGATE = re.compile("[\ud800-\udfff]")
_EMPTY_OBJECT_SIZE = jsonsafe.encoded_size({})


@dataclass(frozen=True)
class Limits:
    """What the serializers' fields accept, read once from them."""

    statuses: dict
    progress_range: range
    message_length: int
    batch_sizes: range


@functools.cache
def get_limits() -> Limits:
    """Return the limits of `PublishStatusSerializer` and `PublishBatchSerializer`, from their fields."""
    fields = serializers.PublishStatusSerializer().fields
    events = serializers.PublishBatchSerializer().fields["events"]
    progress = fields["progress"]
    return Limits(
        statuses=dict(fields["status"].choice_strings_to_values),
        progress_range=range(progress.min_value, progress.max_value + 1),
        message_length=fields["message"].max_length,
        batch_sizes=range(events.min_length or (0 if events.allow_empty else 1), events.max_length + 1),
    )


def valid_fields(body, *, json_checked: bool) -> dict | None:
    """Return `PublishStatusSerializer`'s validated data for a body it surely accepts; None: ask the serializer.

    `json_checked`: the body came from `jsonsafe.loads` (else it is checked here).
    """
    if type(body) is not dict or not (json_checked or _is_json_safe(body)):
        return None
    return _fields(body, get_limits())


def valid_batch_fields(body, *, json_checked: bool) -> dict | None:
    """Return `PublishBatchSerializer`'s validated data for a body it surely accepts; None: ask the serializer."""
    if type(body) is not dict or not (json_checked or _is_json_safe(body)):
        return None
    limits = get_limits()
    items = body.get("events")
    if type(items) is not list or len(items) not in limits.batch_sizes:
        return None
    events = []
    for item in items:
        fields = _fields(item, limits) if type(item) is dict else None
        if fields is None:
            return None
        events.append(fields)
    return {"events": events}


def _is_json_safe(body) -> bool:
    try:
        jsonsafe.check(body)
    except jsonsafe.UnsafeJSON:
        return False
    return True


def _fields(body: dict, limits: Limits) -> dict | None:
    """Return the serializer's result for a json-checked object in the plain spelling, else None."""
    request_id = _request_id(body.get("request"))
    status = limits.statuses.get(body.get("status")) if type(body.get("status")) is str else None
    message = _message(body.get("message", ""), limits.message_length)
    data = _data(body.get("data", _MISSING))
    if request_id is None or status is None or message is None or data is None:
        return None
    fields = {"request": request_id, "status": status}
    if "progress" in body:
        progress = body["progress"]
        if type(progress) is not int or progress not in limits.progress_range:
            return None
        fields["progress"] = progress
    fields["message"] = message
    fields["data"] = data
    return fields


def _request_id(value) -> uuid.UUID | None:
    if type(value) is not str:
        return None
    try:
        return uuid.UUID(hex=value)  # what UUIDField does with a string, leniency included
    except ValueError:
        return None


def _message(value, max_length: int) -> str | None:
    """CharField(allow_blank, trim_whitespace): the stripped string, when no validator would refuse it."""
    if type(value) is not str:
        return None
    value = value.strip()
    if len(value) > max_length or "\x00" in value or _SURROGATE.search(value):
        return None
    return value


def _data(value) -> dict | None:
    """DictField plus `validate_data`: a shallow copy with string keys, when it encodes within the limit."""
    if value is _MISSING:
        return {} if _EMPTY_OBJECT_SIZE <= conf.max_event_data_bytes() else None
    if type(value) is not dict:
        return None
    copy = {str(key): item for key, item in value.items()}
    return copy if jsonsafe.encoded_size(copy) <= conf.max_event_data_bytes() else None
