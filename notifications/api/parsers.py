"""The one body format of the API: JSON that is safe to store and send back (see protocol/jsonsafe.py).

Python's own parser takes NaN, 1e400, lone surrogates and nesting deep enough
to exhaust the stack; a body with any of them never reaches a serializer: it
answers 400, naming the field where the parsed value shows it (`data.k`,
`events[3].data.k`).
"""

from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import JSONParser, get_encoding

from notifications.protocol import jsonsafe


class SafeJSONParser(JSONParser):
    """Parse `application/json` with `jsonsafe.loads`; raise 400 for anything it refuses.

    A JSONParser, so DRF hands it `request.body`, which Django bounds by DATA_UPLOAD_MAX_MEMORY_SIZE (413).
    """

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = get_encoding(parser_context or {})
        try:
            text = stream.read().decode(encoding)
        except UnicodeDecodeError:
            raise ParseError(f"JSON parse error - the body is not valid {encoding}.") from None
        try:
            return jsonsafe.loads(text)
        except jsonsafe.UnsafeJSON as exc:
            raise as_validation_error(exc) from None


def as_validation_error(exc: jsonsafe.UnsafeJSON) -> ParseError | ValidationError:
    """Return the 400 that names where a value was refused (a parse error when no field can be named)."""
    reason = exc.reason[:1].upper() + exc.reason[1:] + "."
    if not exc.path:
        return ParseError(f"JSON parse error - {reason}")
    return ValidationError({exc.path: [reason]})
