"""Request bodies: JSON only, and no larger than Django's DATA_UPLOAD_MAX_MEMORY_SIZE.

DRF streams the body straight into the JSON parser, bypassing the limit Django
applies to `request.body`; this parser applies it, answering 413.
"""

import io

from django.conf import settings
from rest_framework.parsers import JSONParser

from .errors import PayloadTooLarge


class BoundedJSONParser(JSONParser):
    """Parse a JSON body, refusing one over DATA_UPLOAD_MAX_MEMORY_SIZE with 413."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None:
            body = stream.read(limit + 1)
            if len(body) > limit:
                raise PayloadTooLarge(f"The request body is over {limit} bytes.")
            stream = io.BytesIO(body)
        return super().parse(stream, media_type, parser_context)
