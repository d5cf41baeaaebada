"""What the OpenAPI schema cannot infer: the token scheme, the shared parameters, the error answers."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from notifications.api.idempotency import IDEMPOTENCY_HEADER, MAX_KEY_LENGTH
from notifications.api.serializers import ConflictSerializer, ErrorSerializer


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
        "(from the same caller, on the same endpoint, with the same JSON body) answers the first "
        "answer again, with `Idempotent-Replayed: true`, instead of acting twice. The same key with "
        "another body or on another endpoint answers 422. Keys are honoured for "
        "NOTIFY_IDEMPOTENCY_DAYS (2 days by default; at least 24 hours)."
    ),
)

# Named `id`: the schema calls a `pk` path parameter `id` (SCHEMA_COERCE_PATH_PK).
REQUEST_ID_PARAMETER = OpenApiParameter(
    name="id", type=OpenApiTypes.UUID, location=OpenApiParameter.PATH, description="The request's id."
)


BAD_BODY = OpenApiResponse(
    ErrorSerializer,
    description="A bad body: `detail` names the field (`data.k`, `events[3].status`). Bodies are JSON only; "
    "lone surrogates, NUL, NaN, Infinity, out-of-range numbers and nesting over 32 levels are refused.",
)
NOT_FOUND = OpenApiResponse(ErrorSerializer, description="No such request (in a batch: `events[3].request: ...`).")
KEY_REUSED = OpenApiResponse(
    ErrorSerializer, description="The Idempotency-Key was used on another endpoint or with another body."
)
FORBIDDEN_MOVE = OpenApiResponse(
    ConflictSerializer,
    description="A status move the request's state forbids (moves go queued -> processing -> succeeded, "
    "failed or cancelled; progress never decreases; terminal states are final). `current` is that state.",
)
