"""The stored state: tracked requests, the event stream, and who may publish.

The `Event` table is the source of truth for delivery. Each event has a
position in exactly one gapless sequence: its owner's (`request.status`) or the
global announcement sequence. Both are allocated under a row lock held until
commit (see `streams.py`), so no event can commit behind a position a client
has already seen.
"""

import hashlib
import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.functional import cached_property

from notifications.protocol import frames
from notifications.protocol.event_facts import EventFacts


class UnreadablePayload(dict):
    """A stored payload Python cannot load back (written past every check); empty, with the reason."""

    def __init__(self, reason: str):
        super().__init__()
        self.reason = reason


class PayloadField(models.JSONField):
    """A JSONField whose unloadable rows load as `UnreadablePayload` instead of failing the whole query.

    One row a broken writer stored (an integer of 5,000 digits, nesting past
    the decoder's depth) must not make every read of its stream fail: the
    outbox gives up on it, sockets skip it, REST answers the others.
    """

    def from_db_value(self, value, expression, connection):
        try:
            loaded = super().from_db_value(value, expression, connection)
        except (ValueError, RecursionError) as exc:
            return UnreadablePayload(f"{exc.__class__.__name__}: {str(exc)[:120]}")
        if value is not None and isinstance(value, str) and loaded is value:
            return UnreadablePayload("not valid JSON")  # JSONField hands back the text it could not decode
        return loaded

    def deconstruct(self):
        name, _, args, kwargs = super().deconstruct()
        return name, "django.db.models.JSONField", args, kwargs  # the column is a plain JSON one


class RequestStatus(models.TextChoices):
    QUEUED = "queued"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL_STATUSES = frozenset({RequestStatus.SUCCEEDED, RequestStatus.FAILED, RequestStatus.CANCELLED})


class TrackedRequest(models.Model):
    """Work a user started that a backend service finishes later."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tracked_requests")
    title = models.CharField(max_length=200)
    external_id = models.CharField(max_length=200, blank=True, default="")
    status = models.CharField(max_length=16, choices=RequestStatus.choices, default=RequestStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    message = models.CharField(max_length=1000, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # What a status event changes.
    STATE_FIELDS = ["status", "progress", "message", "updated_at"]

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.title} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


class EventKind(models.TextChoices):
    REQUEST_STATUS = "request.status"
    ANNOUNCEMENT = "announcement"


class AnnouncementLevel(models.TextChoices):
    INFO = "info"
    SUCCESS = "success"
    WARNING = "warning"
    CRITICAL = "critical"


class Event(models.Model):
    """One entry of a stream; stored before it is fanned out (the outbox)."""

    position = models.BigAutoField(primary_key=True)
    id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=32, choices=EventKind.choices)
    # Owner of a request.status event; null for an announcement (everyone's).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    seq = models.PositiveBigIntegerField(help_text="Position in the user's or the announcement sequence.")
    request = models.ForeignKey(TrackedRequest, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    payload = PayloadField(help_text="The event as clients receive it, less the cursor.")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # Outbox state: null until a server instance handed it to the channel layer.
    fanned_out_at = models.DateTimeField(null=True, blank=True)
    fanout_attempts = models.PositiveIntegerField(default=0)
    # A lease, so that several instances sweeping the outbox do not all re-send one event.
    fanout_claimed_until = models.DateTimeField(null=True, blank=True)
    # Set when the outbox gave up on the event (it could not be encoded or sent within the bound of attempts).
    fanout_failed_at = models.DateTimeField(null=True, blank=True)
    fanout_error = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["user", "seq"], name="event_unique_user_seq"),
            models.UniqueConstraint(
                fields=["seq"], condition=models.Q(user__isnull=True), name="event_unique_announcement_seq"
            ),
        ]
        indexes = [
            models.Index(fields=["fanned_out_at", "position"], name="event_outbox_idx"),
            models.Index(fields=["kind", "seq"], name="event_kind_seq_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.seq} ({self.id})"

    @cached_property
    def encoded_payload(self) -> str:
        """The payload as JSON, encoded once: stored as is, carried by the layer, completed per socket.

        Raises ValueError for a payload that could not be loaded from its row.
        """
        if isinstance(self.payload, UnreadablePayload):
            raise ValueError(f"the stored payload cannot be loaded ({self.payload.reason})")
        return frames.encode_payload(self.payload)

    @cached_property
    def facts(self) -> EventFacts:
        """The id, kind and request adapters route by, from the row's columns (no payload decoding)."""
        request_id = None if self.request_id is None else str(self.request_id)
        return EventFacts(str(self.id), str(self.kind), request_id if self.kind == EventKind.REQUEST_STATUS else None)

    @property
    def delivery_state(self) -> str:
        if self.fanout_failed_at is not None:
            return "failed"
        if self.fanned_out_at is None:
            return "stored"
        return "re-sent" if self.fanout_attempts > 1 else "fanned out"


class StreamHead(models.Model):
    """The last allocated sequence number of one stream; locked to allocate the next.

    `user` null is the announcement sequence. `read_position` is the highest
    event position the user marked read (unused on the announcement row).
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="stream_head"
    )
    last_seq = models.PositiveBigIntegerField(default=0)
    read_position = models.PositiveBigIntegerField(default=0)
    # Every event of this stream up to this seq may have been pruned.
    pruned_through_seq = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            # NULLs are distinct in a plain unique index: this keeps one announcement row.
            models.UniqueConstraint(Coalesce("user", Value(0)), name="streamhead_one_row_per_stream"),
        ]

    def __str__(self) -> str:
        return f"stream of {self.user or 'announcements'} at {self.last_seq}"


def hash_secret(raw: str) -> str:
    """Return the digest under which a token or ticket is stored (never the raw value)."""
    return hashlib.sha256(raw.encode()).hexdigest()


class ServiceClient(models.Model):
    """A backend service that publishes through the REST API with a token."""

    name = models.CharField(max_length=100, unique=True)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    token_prefix = models.CharField(max_length=8, editable=False, help_text="First characters, to recognise a token.")
    can_publish = models.BooleanField(default=False, help_text="May create requests and publish status events.")
    can_broadcast = models.BooleanField(default=False, help_text="May send announcements to everyone.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    rotated_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def set_new_token(self) -> str:
        """Give the client a fresh token and return it: the only time it is readable."""
        raw = secrets.token_urlsafe(32)
        self.token_hash = hash_secret(raw)
        self.token_prefix = raw[:8]
        return raw

    # DRF treats the authenticated principal as a user; a service is never staff.
    is_authenticated = True
    is_staff = False
    is_superuser = False


class WebSocketTicket(models.Model):
    """A short-lived, single-use pass to open a socket without a session cookie."""

    ticket_hash = models.CharField(max_length=64, primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    session_key = models.CharField(max_length=40, blank=True, default="")
    expires_at = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)


class IdempotencyRecord(models.Model):
    """The first answer to a publish carrying an Idempotency-Key, replayed on retries."""

    principal = models.CharField(max_length=120)
    key = models.CharField(max_length=200)
    # A key is the caller's and the endpoint's: reused on another endpoint or with another body, it answers 422.
    endpoint = models.CharField(max_length=100, default="")
    request_hash = models.CharField(max_length=64, default="", help_text="SHA-256 of the request body.")
    status_code = models.PositiveSmallIntegerField()
    body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["principal", "key"], name="idempotency_unique_key")]


class Connection(models.Model):
    """One open socket, recorded by the process that holds it, so presence covers every instance.

    The holding process refreshes `last_seen` of all its rows in one UPDATE
    per heartbeat; readers count only rows seen within
    NOTIFY_PRESENCE_TIMEOUT_SECS, so a row left by a killed process stops
    counting without anyone deleting it.
    """

    connection_id = models.CharField(max_length=32, primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    instance = models.CharField(max_length=200, help_text="The server instance holding the socket.")
    protocol = models.CharField(
        max_length=16, default="json", help_text="json, stomp, mqtt, sse, sockjs-json or sockjs-stomp."
    )
    # One value per running hub: a restarted instance with the same name never refreshes its predecessor's rows.
    process = models.CharField(max_length=32, db_index=True, editable=False)
    connected_at = models.DateTimeField()
    last_activity = models.DateTimeField(help_text="The last frame the client sent (as of the last heartbeat).")
    last_seen = models.DateTimeField(db_index=True, help_text="The holding instance's last heartbeat.")
    disconnect_requested_at = models.DateTimeField(
        null=True, blank=True, help_text="Set by an operator; the holding instance closes the socket with 4000."
    )

    class Meta:
        ordering = ["-connected_at"]
        indexes = [models.Index(fields=["user", "last_seen"], name="connection_user_seen_idx")]

    def __str__(self) -> str:
        return f"{self.connection_id} on {self.instance}"


class MqttSession(models.Model):
    """A persistent MQTT session (clean session 0): what one client id of a user subscribed to and has acknowledged.

    Kept for the history window; on reconnect every event of its subscriptions
    past the acknowledged position is sent again, those already sent once
    (up to the sent position) with DUP set.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    client_id = models.CharField(max_length=200)
    subscriptions = models.JSONField(default=list, help_text="[[topic filter, granted QoS], ...] in subscribe order.")
    acked_announcements = models.PositiveBigIntegerField(default=0)
    acked_own = models.PositiveBigIntegerField(default=0)
    sent_announcements = models.PositiveBigIntegerField(default=0)
    sent_own = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "client_id"], name="mqtt_session_unique_client")]

    def __str__(self) -> str:
        return f"MQTT session {self.client_id} of user {self.user_id}"


class AnnouncementManager(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(kind=EventKind.ANNOUNCEMENT)


class Announcement(Event):
    """Announcements only, for the admin's compose-and-send page (stored as events)."""

    objects = AnnouncementManager()

    class Meta:
        proxy = True
        ordering = ["-position"]

    def __str__(self) -> str:
        return str(self.payload.get("title", "")) or f"announcement #{self.seq}"


class ConnectionEvent(models.Model):
    """One `user.connected` or `user.disconnected` of PROTOCOL 5.2, stored before it is published (the outbox).

    At most one of each type per connection (the unique constraint): a
    socket declared lost and closing later, or written twice, still
    publishes exactly one of each.
    """

    position = models.BigAutoField(primary_key=True)
    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    type = models.CharField(max_length=32)
    connection_id = models.CharField(max_length=32)
    instance = models.CharField(max_length=200)
    body = models.TextField(help_text="The JSON body, exactly as published and posted to webhooks.")
    created_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True, db_index=True)
    publish_attempts = models.PositiveIntegerField(default=0)
    claimed_until = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=32, blank=True, default="", editable=False)

    class Meta:
        ordering = ["-position"]
        constraints = [models.UniqueConstraint(fields=["connection_id", "type"], name="connection_event_once_per_type")]

    def __str__(self) -> str:
        return f"{self.type} {self.connection_id}"


REQUEST_UNSEEN = "request.unseen"


class WebhookEndpoint(models.Model):
    """A receiver of webhook events, POSTed and signed with its secret (PROTOCOL 5.2).

    Without a service it is an operator's receiver of connection events. With
    one it belongs to that publishing service and receives `request.unseen`
    for the requests that service published, and nothing else.
    """

    url = models.URLField(max_length=500, unique=True)
    service = models.ForeignKey(
        ServiceClient,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="webhooks",
        help_text="The publishing service it belongs to: it then receives request.unseen of that service's requests.",
    )
    secret = models.CharField(max_length=200, help_text='Signs each POST: HMAC-SHA256 of "t.body".')
    events = models.JSONField(default=list, help_text="Event types sent; empty: every type.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One event owed to one endpoint: retried until a 2xx answer or until the retry window closes."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(
        ConnectionEvent, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    escalation = models.ForeignKey(
        "UnseenEscalation",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="webhook_deliveries",
        help_text="The unseen finished request a request.unseen delivery is about.",
    )
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now, db_index=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    gave_up_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=32, blank=True, default="", editable=False)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="webhook_delivery_once"),
            models.UniqueConstraint(fields=["endpoint", "escalation"], name="webhook_delivery_once_per_escalation"),
            models.CheckConstraint(
                condition=models.Q(event__isnull=False, escalation__isnull=True)
                | models.Q(event__isnull=True, escalation__isnull=False),
                name="webhook_delivery_one_subject",
            ),
        ]

    def __str__(self) -> str:
        subject = self.event if self.event_id is not None else f"{REQUEST_UNSEEN} {self.escalation_id}"
        return f"{subject} to {self.endpoint}"

    @property
    def event_type(self) -> str:
        """Return the type the POST names in `X-Notify-Event`."""
        return self.event.type if self.event_id is not None else REQUEST_UNSEEN

    @property
    def body(self) -> str:
        """Return the JSON body exactly as stored with what is delivered (a connection event, or an escalation)."""
        return self.event.body if self.event_id is not None else self.escalation.webhook_body


class WebhookAttempt(models.Model):
    """One POST of a delivery: its status code (none without an answer), the answer's start or the error."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_rows")
    attempted_at = models.DateTimeField(default=timezone.now)
    ok = models.BooleanField(default=False)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    answer = models.TextField(blank=True, default="")
    error = models.CharField(max_length=200, blank=True, default="")
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"attempt {self.pk} of {self.delivery_id}"


class UnseenEscalation(models.Model):
    """A finished request whose owner is e-mailed (and its publishing services told) unless it is read in time.

    One row per request (created with its terminal event), claimed by one
    instance at a time with a lease, so it is escalated at most once across
    instances and restarts.
    """

    request = models.OneToOneField(TrackedRequest, on_delete=models.CASCADE, related_name="escalation")
    event = models.OneToOneField(Event, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    due_at = models.DateTimeField(db_index=True, help_text="When it is escalated unless read before.")
    claimed_until = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=32, blank=True, default="", editable=False)
    escalated_at = models.DateTimeField(null=True, blank=True)
    escalated_via = models.JSONField(
        default=list, blank=True, help_text="How it was escalated: email (the owner), webhook (the publishing service)."
    )
    cancelled_at = models.DateTimeField(null=True, blank=True, help_text="A client read it in time.")
    outcome = models.CharField(max_length=200, blank=True, default="", help_text="What was done, or why nothing.")
    webhook_body = models.TextField(
        blank=True, default="", help_text="The request.unseen body posted to the publishing services' webhooks."
    )

    class Meta:
        ordering = ["-due_at"]

    def __str__(self) -> str:
        return f"unseen {self.request_id}"


class NotificationPreference(models.Model):
    """What a user wants besides the live page (the settings page)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    email_when_unseen = models.BooleanField(
        default=True, help_text="E-mail me when a request of mine finishes and no open page showed it."
    )

    def __str__(self) -> str:
        return f"preferences of {self.user_id}"


class EventDelivery(models.Model):
    """How one stored event reached sockets: a per-event aggregate, written in batches (the delivery ledger).

    Keyed by stream and seq, as live messages know them: `stream` is the
    owner's id, 0 for announcements.
    """

    stream = models.PositiveBigIntegerField()
    seq = models.PositiveBigIntegerField()
    first_delivered_at = models.DateTimeField()
    connections = models.PositiveIntegerField(default=0, help_text="Frames written to sockets (one per connection).")
    protocols = models.PositiveSmallIntegerField(default=0, help_text="Bit set of the protocols it went out on.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["stream", "seq"], name="event_delivery_once")]


class ReadMark(models.Model):
    """A move of a user's read marker: every event up to `position` was read by `at`."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    position = models.BigIntegerField()
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["user", "position"])]


class RequestPublisher(models.Model):
    """A service that created a request or published one of its events: it may read the request's ledger."""

    request = models.ForeignKey(TrackedRequest, on_delete=models.CASCADE, related_name="+")
    service = models.ForeignKey(ServiceClient, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["request", "service"], name="request_publisher_once")]
