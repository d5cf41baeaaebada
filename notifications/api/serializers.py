"""The REST API's bodies: what comes in is validated here, what goes out is shaped here.

Stored events are answered exactly as they are stored (`Event.payload`, the
same object sockets receive, less the per-connection cursor); their declared
fields only document that object in the schema.
"""

import logging

from django.contrib.auth import get_user_model
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied

from notifications import conf
from notifications.api.parsers import as_validation_error
from notifications.api.permissions import is_service
from notifications.models import AnnouncementLevel, Event, EventKind, RequestStatus, TrackedRequest, UnreadablePayload
from notifications.protocol import jsonsafe

logger = logging.getLogger(__name__)

MAX_TITLE_LENGTH = 200
MAX_MESSAGE_LENGTH = 1000
MAX_BODY_LENGTH = 5000
MAX_BATCH_EVENTS = 500


def get_acting_user(principal, username: str | None):
    """Return the user a call acts for: the caller itself, or the user a service names.

    A service must name an active user (400 naming `user` otherwise); a person
    may name only itself (403 otherwise).
    """
    if not is_service(principal):
        if username is not None and username != principal.get_username():
            raise PermissionDenied("You may act only for yourself.")
        return principal
    if not username:
        raise serializers.ValidationError({"user": ["Required when a service acts for a user."]})
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise serializers.ValidationError({"user": ["No active user with this username."]})
    return user


# Context key: the body comes from `jsonsafe.loads`, so BodySerializer need not check it again.
JSON_CHECKED = "json_checked"


class BodySerializer(serializers.Serializer):
    """A request body: every key, string and number in it passes `jsonsafe.check` before any field sees it.

    The parser already refuses unsafe JSON text; this also covers bodies that
    arrive as Python values (the socket gateway). A caller that parsed the
    body with `jsonsafe.loads` (the AMQP ingress) says so with JSON_CHECKED.
    """

    def to_internal_value(self, data):
        if self.parent is None and not self.context.get(JSON_CHECKED):
            try:
                jsonsafe.check(data)
            except jsonsafe.UnsafeJSON as exc:
                raise as_validation_error(exc) from None
        return super().to_internal_value(data)


class ActingForUserSerializer(BodySerializer):
    """A body with `user`, the username a service acts for; `validated_data["owner"]` is the user."""

    user = serializers.CharField(
        required=False, help_text="The username a service acts for; a signed-in user may omit it or name itself."
    )

    def validate(self, attrs: dict) -> dict:
        attrs["owner"] = get_acting_user(self.context["request"].user, attrs.pop("user", None))
        return attrs


class RequestSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True, help_text="The owner's username.")

    class Meta:
        model = TrackedRequest
        fields = ["id", "title", "external_id", "status", "progress", "message", "created_at", "updated_at", "owner"]
        read_only_fields = fields


class RequestCreateSerializer(ActingForUserSerializer):
    title = serializers.CharField(max_length=MAX_TITLE_LENGTH)
    external_id = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class PublishStatusSerializer(BodySerializer):
    request = serializers.UUIDField(help_text="The id of the request this event is about.")
    status = serializers.ChoiceField(choices=RequestStatus.choices)
    progress = serializers.IntegerField(min_value=0, max_value=100, required=False, help_text="Percent done.")
    message = serializers.CharField(max_length=MAX_MESSAGE_LENGTH, required=False, allow_blank=True, default="")
    data = serializers.DictField(
        required=False,
        default=dict,
        help_text="Any JSON object, passed on to clients; at most NOTIFY_MAX_EVENT_DATA_BYTES (16 KiB) as JSON.",
    )

    def validate_data(self, value: dict) -> dict:
        limit = conf.max_event_data_bytes()
        size = jsonsafe.encoded_size(value)
        if size > limit:
            raise serializers.ValidationError(f"Must encode to at most {limit} bytes of JSON; this is {size}.")
        return value


class PublishBatchSerializer(BodySerializer):
    events = PublishStatusSerializer(
        many=True,
        allow_empty=False,
        max_length=MAX_BATCH_EVENTS,
        help_text=f"1 to {MAX_BATCH_EVENTS} events, stored in this order in one transaction: all or none.",
    )


class BroadcastSerializer(BodySerializer):
    title = serializers.CharField(max_length=MAX_TITLE_LENGTH)
    body = serializers.CharField(max_length=MAX_BODY_LENGTH, required=False, allow_blank=True, default="")
    level = serializers.ChoiceField(choices=AnnouncementLevel.choices, default=AnnouncementLevel.INFO)


class MarkReadSerializer(BodySerializer):
    up_to = serializers.UUIDField(help_text="The id of the newest event to mark read.")


class ReadResultSerializer(serializers.Serializer):
    up_to = serializers.UUIDField()
    unread = serializers.IntegerField()


class TicketRequestSerializer(ActingForUserSerializer):
    pass


class TicketSerializer(serializers.Serializer):
    ticket = serializers.CharField(help_text="Connect with /ws/notifications/?ticket=<ticket>; single use.")
    expires_in = serializers.IntegerField(help_text="Seconds the ticket stays valid.")


class RequestSummarySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    title = serializers.CharField()
    status = serializers.ChoiceField(choices=RequestStatus.choices)
    progress = serializers.IntegerField()
    updated_at = serializers.DateTimeField()


class StoredEventSerializer(serializers.Serializer):
    """An event as stored and delivered; `request`/`message`/`data` or `title`/`body`/`level` by kind."""

    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=EventKind.choices)
    created_at = serializers.DateTimeField()
    request = RequestSummarySerializer(required=False, help_text="For request.status events.")
    message = serializers.CharField(required=False, help_text="For request.status events.")
    data = serializers.DictField(required=False, help_text="For request.status events.")
    title = serializers.CharField(required=False, help_text="For announcements.")
    body = serializers.CharField(required=False, help_text="For announcements.")
    level = serializers.ChoiceField(choices=AnnouncementLevel.choices, required=False, help_text="For announcements.")

    def to_representation(self, event: Event) -> dict:
        if isinstance(event.payload, UnreadablePayload):
            logger.warning("event %s has a payload that cannot be loaded; answered without it", event.id)
            return {"id": str(event.id), "kind": event.kind, "created_at": event.created_at.isoformat()}
        try:
            jsonsafe.check(event.payload)
        except jsonsafe.UnsafeJSON as exc:
            # Stored before bodies were checked: answer it repaired rather than fail the whole page.
            logger.warning("event %s has an unsafe payload (%s); answered repaired", event.id, exc)
            return jsonsafe.repaired(event.payload)
        return dict(event.payload)


class StoredEventBatchSerializer(serializers.Serializer):
    events = StoredEventSerializer(many=True, help_text="The stored events, in the order sent.")


class NotificationSerializer(StoredEventSerializer):
    """A stream event plus whether the user has read it (context `read_position`)."""

    read = serializers.BooleanField()

    def to_representation(self, event: Event) -> dict:
        return {**super().to_representation(event), "read": event.position <= self.context["read_position"]}


class ErrorSerializer(serializers.Serializer):
    """Every error answer (see api/errors.py)."""

    detail = serializers.CharField(help_text="What went wrong; for a bad body it starts with the field: `data.k: ...`.")
    code = serializers.CharField(help_text="Machine-readable: `invalid`, `parse_error`, `not_found`, `conflict`, ...")
    errors = serializers.DictField(required=False, help_text="For 400 on a bad body: {field: [messages]}.")


class CurrentStateSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=RequestStatus.choices)
    progress = serializers.IntegerField()


class ConflictSerializer(ErrorSerializer):
    current = CurrentStateSerializer(help_text="The request's state, which refused the move.")


class PresenceConnectionSerializer(serializers.Serializer):
    connection_id = serializers.CharField()
    instance = serializers.CharField()
    protocol = serializers.CharField(help_text="json, stomp, mqtt, sse, sockjs-json or sockjs-stomp.")
    connected_at = serializers.DateTimeField()
    last_activity = serializers.DateTimeField()
    last_seen = serializers.DateTimeField(help_text="The holding instance's last heartbeat.")


class PresenceUserSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    connections = PresenceConnectionSerializer(many=True)


class PresenceInstanceSerializer(serializers.Serializer):
    name = serializers.CharField()
    connections = serializers.IntegerField()


class PresenceSerializer(serializers.Serializer):
    online_users = serializers.IntegerField()
    connections = serializers.IntegerField()
    instances = PresenceInstanceSerializer(many=True)
    users = PresenceUserSerializer(many=True)
    timeout_secs = serializers.FloatField(help_text="A connection counts while its instance beat within this.")


class EventDeliverySerializer(serializers.Serializer):
    """What happened to one event of a request; null (or 0, []) where it did not happen."""

    id = serializers.UUIDField()
    status = serializers.CharField(allow_null=True)
    progress = serializers.IntegerField(allow_null=True)
    stored_at = serializers.DateTimeField()
    fanned_out_at = serializers.DateTimeField(allow_null=True, help_text="Handed to the channel layer.")
    first_delivered_at = serializers.DateTimeField(allow_null=True, help_text="First written to a socket.")
    connections = serializers.IntegerField(help_text="Sockets it was written to (live or on resume).")
    protocols = serializers.ListField(child=serializers.CharField(), help_text="Protocols it went out over.")
    read_at = serializers.DateTimeField(allow_null=True, help_text="The owner's read marker passed it.")
    escalated_at = serializers.DateTimeField(allow_null=True, help_text="The owner was told it went unseen.")
    escalated_via = serializers.ListField(child=serializers.CharField(), allow_null=True, help_text="email")


class DeliveryLedgerSerializer(serializers.Serializer):
    request = serializers.UUIDField()
    events = EventDeliverySerializer(many=True)
