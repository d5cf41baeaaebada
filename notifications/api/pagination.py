"""Pages of a user's notification stream, which also carry the unread count."""

from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response


class NotificationPagination(PageNumberPagination):
    """Page-number pages plus `unread`: how many events of the whole stream are unread."""

    page_size_query_param = "page_size"
    max_page_size = 200

    def get_paginated_response_with_unread(self, data, unread: int) -> Response:
        response = self.get_paginated_response(data)
        response.data["unread"] = unread
        return response

    def get_paginated_response_schema(self, schema: dict) -> dict:
        schema = super().get_paginated_response_schema(schema)
        schema["properties"]["unread"] = {"type": "integer", "description": "Unread events in the whole stream."}
        schema["required"] = [*schema["required"], "unread"]
        return schema
