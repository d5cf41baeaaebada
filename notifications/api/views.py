"""REST endpoints under /api/v1/ (see PROTOCOL.md section 2). Thin: serializers validate, actions act.

Who may call what is in each view's `permission_classes`; a service client
authenticates with `Authorization: Token <key>`, a person with the session
cookie (plus the CSRF token on writes).
"""

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from notifications.api import publish_checks, serializers
from notifications.api.idempotency import Answer, respond_once
from notifications.api.pagination import NotificationPagination
from notifications.api.parsers import SafeJSONParser
from notifications.api.permissions import CanBroadcast, CanPublish, IsSignedInUser, IsStaffUser, is_service
from notifications.api.schema import (
    BAD_BODY,
    FORBIDDEN_MOVE,
    IDEMPOTENCY_KEY_PARAMETER,
    KEY_REUSED,
    NOT_FOUND,
    REQUEST_ID_PARAMETER,
)
from notifications.errors import ServiceError
from notifications.models import Event, TrackedRequest
from notifications.store import actions, ledger, streams, tickets
from notifications.store.presence import online_snapshot


def sees_all_requests(principal) -> bool:
    """Return whether the caller reads every user's requests: staff, and services (they act for users)."""
    return is_service(principal) or principal.is_staff


def publishing_service(request: Request):
    """Return the service client behind a request, or None for a person."""
    return request.user if is_service(request.user) else None


def get_visible_requests(principal) -> QuerySet[TrackedRequest]:
    requests = TrackedRequest.objects.select_related("owner")
    return requests if sees_all_requests(principal) else requests.filter(owner=principal)


class ApiView(generics.GenericAPIView):
    """The base of every endpoint: safe JSON bodies only (Django bounds their size, see api/errors.py)."""

    parser_classes = [SafeJSONParser]

    def is_schema_generation(self) -> bool:
        return getattr(self, "swagger_fake_view", False)

    def has_json_checked_body(self) -> bool:
        """Return whether `request.data` passed `jsonsafe` already: it did when SafeJSONParser is the only parser."""
        return all(isinstance(parser, SafeJSONParser) for parser in self.request.parsers)

    def get_validated_data(self, fast_check) -> dict:
        """Return the body's validated data: `fast_check`'s when it answers, else the serializer's (or its 400)."""
        fields = fast_check(self.request.data, json_checked=self.has_json_checked_body())
        if fields is not None:
            return fields
        body = self.get_serializer(data=self.request.data)
        body.is_valid(raise_exception=True)
        return body.validated_data


class VisibleRequestsView(ApiView):
    """A view over the requests the caller may see (owner, staff, or a publishing service)."""

    permission_classes = [IsSignedInUser | CanPublish]

    def get_visible_requests(self) -> QuerySet[TrackedRequest]:
        if self.is_schema_generation():
            return TrackedRequest.objects.none()
        return get_visible_requests(self.request.user)


class RequestListCreateView(generics.ListAPIView, VisibleRequestsView):
    """List the caller's requests, or create one.

    A signed-in user creates for itself and lists its own (staff list all).
    A service with the publish permission creates for the user it names in
    `user` and, since it acts for users, lists every user's requests.
    """

    serializer_class = serializers.RequestSerializer

    def get_queryset(self) -> QuerySet[TrackedRequest]:
        return self.get_visible_requests()

    @extend_schema(
        request=serializers.RequestCreateSerializer,
        responses={201: serializers.RequestSerializer, 400: BAD_BODY, 422: KEY_REUSED},
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
    )
    def post(self, request: Request) -> Response:
        return respond_once(request, self.perform_create)

    def perform_create(self) -> Answer:
        body = serializers.RequestCreateSerializer(data=self.request.data, context=self.get_serializer_context())
        body.is_valid(raise_exception=True)
        tracked, _ = actions.do_create_request(
            body.validated_data["owner"],
            body.validated_data["title"],
            body.validated_data["external_id"],
            publisher=publishing_service(self.request),
        )
        return status.HTTP_201_CREATED, serializers.RequestSerializer(tracked).data


@extend_schema(parameters=[REQUEST_ID_PARAMETER])
class RequestDetailView(generics.RetrieveAPIView, VisibleRequestsView):
    """Show one request to its owner, staff, or a publishing service; anyone else gets 404."""

    serializer_class = serializers.RequestSerializer

    def get_queryset(self) -> QuerySet[TrackedRequest]:
        return self.get_visible_requests()


@extend_schema(parameters=[REQUEST_ID_PARAMETER])
class RequestEventsView(generics.ListAPIView, VisibleRequestsView):
    """List a request's events, oldest first, to whoever may see the request (else 404)."""

    serializer_class = serializers.StoredEventSerializer

    def get_queryset(self) -> QuerySet[Event]:
        if self.is_schema_generation():
            return Event.objects.none()
        tracked = generics.get_object_or_404(self.get_visible_requests(), pk=self.kwargs["pk"])
        return tracked.events.order_by("position")


@extend_schema(parameters=[REQUEST_ID_PARAMETER], responses={200: serializers.DeliveryLedgerSerializer, 404: NOT_FOUND})
class RequestDeliveryView(VisibleRequestsView):
    """Show what happened to each event of a request: to its owner, staff, and services that published it."""

    serializer_class = serializers.DeliveryLedgerSerializer

    def get(self, request: Request, pk: str) -> Response:
        tracked = generics.get_object_or_404(self.get_visible_requests(), pk=pk)
        if is_service(request.user) and not ledger.published_by(tracked, request.user):
            raise PermissionDenied("Only a service that created or reported this request may read its ledger.")
        return Response(serializers.DeliveryLedgerSerializer(ledger.request_ledger(tracked)).data)


PUBLISH_ERRORS = {400: BAD_BODY, 404: NOT_FOUND, 409: FORBIDDEN_MOVE, 422: KEY_REUSED}


def status_change_of(fields: dict) -> actions.StatusChange:
    """Return the change a validated `PublishStatusSerializer` body asks for."""
    return actions.StatusChange(
        fields["request"], fields["status"], fields.get("progress"), fields["message"], fields["data"]
    )


class EventPublishView(ApiView):
    """Store a request-status event (202); sockets get it after commit. Services with publish only."""

    permission_classes = [CanPublish]
    serializer_class = serializers.PublishStatusSerializer

    @extend_schema(
        responses={202: serializers.StoredEventSerializer, **PUBLISH_ERRORS}, parameters=[IDEMPOTENCY_KEY_PARAMETER]
    )
    def post(self, request: Request) -> Response:
        return respond_once(request, self.perform_publish)

    def perform_publish(self) -> Answer:
        fields = self.get_validated_data(publish_checks.valid_fields)
        [event] = actions.do_publish_statuses([status_change_of(fields)], publisher=publishing_service(self.request))
        return status.HTTP_202_ACCEPTED, serializers.StoredEventSerializer(event).data


class EventBatchPublishView(ApiView):
    """Store several request-status events in one transaction, all or none (202). Services with publish only.

    For a service reporting many requests at once: one round trip and one
    commit instead of one per event. A refused item refuses the batch, and
    the error names it (`events[3].status`, `events[3].request`).
    """

    permission_classes = [CanPublish]
    serializer_class = serializers.PublishBatchSerializer

    @extend_schema(
        responses={202: serializers.StoredEventBatchSerializer, **PUBLISH_ERRORS},
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
    )
    def post(self, request: Request) -> Response:
        return respond_once(request, self.perform_publish)

    def perform_publish(self) -> Answer:
        body = self.get_validated_data(publish_checks.valid_batch_fields)
        try:
            events = actions.do_publish_statuses(
                [status_change_of(fields) for fields in body["events"]],
                publisher=publishing_service(self.request),
            )
        except ServiceError as exc:
            if exc.index is not None:
                exc.detail = f"events[{exc.index}].request: {exc.detail}"
            raise
        answer = serializers.StoredEventBatchSerializer({"events": events}).data
        return status.HTTP_202_ACCEPTED, answer


class BroadcastView(ApiView):
    """Store an announcement to everyone (202). Staff, or services with the broadcast permission."""

    permission_classes = [IsStaffUser | CanBroadcast]
    serializer_class = serializers.BroadcastSerializer

    @extend_schema(
        responses={202: serializers.StoredEventSerializer, 400: BAD_BODY, 422: KEY_REUSED},
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
    )
    def post(self, request: Request) -> Response:
        return respond_once(request, self.perform_broadcast)

    def perform_broadcast(self) -> Answer:
        body = self.get_serializer(data=self.request.data)
        body.is_valid(raise_exception=True)
        event = actions.do_broadcast(**body.validated_data)
        return status.HTTP_202_ACCEPTED, serializers.StoredEventSerializer(event).data


class NotificationListView(generics.ListAPIView, ApiView):
    """The signed-in user's stream, newest first, each event with `read`; every page has `unread`."""

    permission_classes = [IsSignedInUser]
    serializer_class = serializers.NotificationSerializer
    pagination_class = NotificationPagination

    def get_queryset(self) -> QuerySet[Event]:
        if self.is_schema_generation():
            return Event.objects.none()
        return Event.objects.filter(streams.stream_of(self.request.user.pk)).order_by("-position")

    def get_serializer_context(self) -> dict:
        context = super().get_serializer_context()
        if not self.is_schema_generation():
            context["read_position"] = streams.read_position(self.request.user.pk)
        return context

    def get_paginated_response(self, data) -> Response:
        return self.paginator.get_paginated_response_with_unread(data, streams.unread_count(self.request.user.pk))


class MarkReadView(ApiView):
    """Mark the user's events up to `up_to` read; its sockets get a `read` frame."""

    permission_classes = [IsSignedInUser]
    serializer_class = serializers.MarkReadSerializer

    @extend_schema(responses={200: serializers.ReadResultSerializer, 400: BAD_BODY, 404: NOT_FOUND})
    def post(self, request: Request) -> Response:
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        up_to = body.validated_data["up_to"]
        unread = actions.do_mark_read(request.user, up_to)
        return Response(serializers.ReadResultSerializer({"up_to": up_to, "unread": unread}).data)


class TicketView(ApiView):
    """Issue a single-use WebSocket ticket (201) for a client that cannot send the session cookie.

    A signed-in user gets a ticket for itself, bound to its session. As an
    extension of the protocol, a service with the publish permission may get
    one for the user it names in `user` (a backend opening a socket for a user).
    """

    permission_classes = [IsSignedInUser | CanPublish]
    serializer_class = serializers.TicketRequestSerializer

    @extend_schema(responses={201: serializers.TicketSerializer, 400: BAD_BODY})
    def post(self, request: Request) -> Response:
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        ticket = tickets.issue_ticket(body.validated_data["owner"], session_key=self.get_session_key())
        answer = {"ticket": ticket, "expires_in": tickets.ticket_ttl_secs()}
        return Response(serializers.TicketSerializer(answer).data, status=status.HTTP_201_CREATED)

    def get_session_key(self) -> str:
        """Return the session a user's ticket is bound to (so logout closes its socket); none for services."""
        if is_service(self.request.user):
            return ""
        return self.request.session.session_key or ""


class PresenceView(ApiView):
    """Who is online: the users with sockets and the connections per server instance. Staff only."""

    permission_classes = [IsStaffUser]
    serializer_class = serializers.PresenceSerializer

    def get(self, request: Request) -> Response:
        return Response(online_snapshot())
