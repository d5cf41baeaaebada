"""What the OpenAPI schema cannot infer: the token scheme and the shared header and path parameters."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

from notifications.api.idempotency import IDEMPOTENCY_HEADER, MAX_KEY_LENGTH


class ServiceTokenScheme(OpenApiAuthenticationExtension):
    """Describe `Authorization: Token <key>` (imported by the views, which registers it)."""

    target_class = "notifications.api.authentication.ServiceTokenAuthentication"
    name = "serviceToken"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix=self.target.keyword)


IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    name=IDEMPOTENCY_HEADER,
    type=OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        f"Up to {MAX_KEY_LENGTH} characters naming this operation. A retry with the same key "
        "(from the same caller) answers the first answer again, with `Idempotent-Replayed: true`, "
        "instead of acting twice."
    ),
)

# Named `id`: the schema calls a `pk` path parameter `id` (SCHEMA_COERCE_PATH_PK).
REQUEST_ID_PARAMETER = OpenApiParameter(
    name="id", type=OpenApiTypes.UUID, location=OpenApiParameter.PATH, description="The request's id."
)
