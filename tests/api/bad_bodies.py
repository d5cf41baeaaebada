"""Bad publish bodies as raw JSON texts, and the 400 the serializer alone answers for each."""

import json

from rest_framework.exceptions import ValidationError

from notifications.api import errors
from notifications.api.parsers import as_validation_error
from notifications.protocol import jsonsafe

# Raw JSON texts (`%s`: the request's id): wrong types, ranges, unknown fields, unicode edges, unsafe JSON.
BAD_BODIES = [
    '{"status": "processing"}',
    '{"request": "x", "status": "processing"}',
    '{"request": 5, "status": "done"}',
    '{"request": "%s", "status": "processing", "progress": true}',
    '{"request": "%s", "status": "processing", "progress": 50.5}',
    '{"request": "%s", "status": "processing", "progress": 101}',
    '{"request": "%s", "status": "processing", "progress": null}',
    '{"request": "%s", "status": "processing", "message": "' + "x" * 1001 + '"}',
    '{"request": "%s", "status": "processing", "message": "\\ud800"}',
    '{"request": "%s", "status": "processing", "message": "a\\u0000"}',
    '{"request": "%s", "status": "processing", "message": ["x"]}',
    '{"request": "%s", "status": "processing", "data": []}',
    '{"request": "%s", "status": "processing", "data": {"k": NaN}}',
    '{"request": "%s", "status": "processing", "other": 1e400}',
    '{"request": "%s", "status": null, "progress": -1, "message": null}',
    "[]",
    "null",
]


def expected_400(serializer_class, text: str) -> dict:
    """Return the 400 body the serializer alone gives for a JSON text (after SafeJSONParser's own checks)."""
    try:
        body = serializer_class(data=jsonsafe.loads(text))
        body.is_valid(raise_exception=True)
    except ValidationError as exc:
        return json.loads(json.dumps(errors.error_body(exc)))
    except jsonsafe.UnsafeJSON as exc:
        return json.loads(json.dumps(errors.error_body(as_validation_error(exc))))
    raise AssertionError(f"the serializer accepts {text}")
