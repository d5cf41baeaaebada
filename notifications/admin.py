"""The Django admin for daily work: requests, events, announcements, service clients, presence.

Every change made here goes through `actions` (or `service_tokens`), like a
change made over REST, so a status set or an announcement sent from the
admin reaches open pages live. Stored events are never edited or deleted
here: their sequences must stay gapless.
"""

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.db.models import Q
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from notifications.errors import ServiceError
from notifications.models import (
    Announcement,
    AnnouncementLevel,
    Connection,
    ConnectionEvent,
    Event,
    RequestStatus,
    ServiceClient,
    StreamHead,
    TrackedRequest,
    UnreadablePayload,
    UnseenEscalation,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from notifications.store import actions, connection_events, ledger, presence, service_tokens, webhooks
from notifications.store.outbox import BAD_PAYLOAD_ERRORS

# --- requests ----------------------------------------------------------------------------


class EventInline(admin.TabularInline):
    model = Event
    fields = ("position", "kind", "seq", "payload", "created_at", "delivery_state")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("position",)
    verbose_name_plural = "event history"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class StatusFields(forms.Form):
    """What the "set status" action publishes."""

    status = forms.ChoiceField(choices=[("", "status…"), *RequestStatus.choices], required=False)
    progress = forms.IntegerField(
        min_value=0, max_value=100, required=False, widget=forms.NumberInput(attrs={"placeholder": "progress %"})
    )
    message = forms.CharField(max_length=1000, required=False, widget=forms.TextInput(attrs={"placeholder": "message"}))


class StatusActionForm(ActionForm, StatusFields):
    """The action menu, with the status fields beside it."""


@admin.register(TrackedRequest)
class TrackedRequestAdmin(admin.ModelAdmin):
    list_display = ("title", "owner", "status", "progress", "updated_at")
    list_filter = ("status", "updated_at", "created_at")
    search_fields = ("title", "external_id", "owner__username")
    list_select_related = ("owner",)
    date_hierarchy = "updated_at"
    readonly_fields = (
        "id",
        "owner",
        "title",
        "external_id",
        "status",
        "progress",
        "message",
        "created_at",
        "updated_at",
        "delivery_ledger",
    )
    inlines = [EventInline]
    action_form = StatusActionForm
    actions = ["set_status", "cancel_requests"]

    def has_add_permission(self, request) -> bool:
        return False  # requests are created by users and services over REST

    @admin.display(description="delivery ledger")
    def delivery_ledger(self, tracked: TrackedRequest) -> str:
        """Each event's way to the user: stored, fanned out, first delivered, on how many sockets, read, escalated."""
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    entry["status"],
                    entry["stored_at"],
                    entry["fanned_out_at"] or "–",
                    entry["first_delivered_at"] or "–",
                    entry["connections"],
                    ", ".join(entry["protocols"]) or "–",
                    entry["read_at"] or "–",
                    ", ".join(entry["escalated_via"] or []) or "–",
                )
                for entry in ledger.request_ledger(tracked)["events"]
            ),
        )
        head = format_html(
            "<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
            "status",
            "stored",
            "fanned out",
            "first delivered",
            "sockets",
            "protocols",
            "read",
            "escalated",
        )
        return format_html("<table>{}{}</table>", head, rows)

    @admin.action(description="Set the status of the selected requests (publishes an event)")
    def set_status(self, request: HttpRequest, queryset) -> None:
        form = StatusFields(request.POST)
        if not form.is_valid() or not form.cleaned_data["status"]:
            self.message_user(request, "Choose a status (and optionally progress and a message).", messages.ERROR)
            return
        fields = form.cleaned_data
        self._publish_each(
            request,
            queryset,
            lambda tracked: actions.do_publish_status(
                tracked.pk, fields["status"], progress=fields["progress"], message=fields["message"]
            ),
            f"set to {fields['status']}",
        )

    @admin.action(description="Cancel the selected requests (publishes an event)")
    def cancel_requests(self, request: HttpRequest, queryset) -> None:
        self._publish_each(
            request,
            queryset,
            lambda tracked: actions.do_cancel_request(tracked.pk, "Cancelled by an operator"),
            "cancelled",
        )

    def _publish_each(self, request: HttpRequest, queryset, publish, done: str) -> None:
        changed = 0
        for tracked in queryset:
            try:
                publish(tracked)
                changed += 1
            except ServiceError as exc:
                self.message_user(request, f"{tracked.title}: {exc.detail}", messages.WARNING)
        if changed:
            self.message_user(request, f"{changed} request(s) {done}; their owners' pages show it now.")


# --- events ------------------------------------------------------------------------------


class DeliveryStateFilter(admin.SimpleListFilter):
    title = "delivery state"
    parameter_name = "delivery"
    CONDITIONS = {
        "stored": Q(fanned_out_at__isnull=True, fanout_failed_at__isnull=True),
        "failed": Q(fanout_failed_at__isnull=False),
        "fanned out": Q(fanned_out_at__isnull=False, fanout_attempts__lte=1),
        "re-sent": Q(fanned_out_at__isnull=False, fanout_attempts__gt=1),
    }

    def lookups(self, request, model_admin):
        return [(state, state) for state in self.CONDITIONS]

    def queryset(self, request, queryset):
        condition = self.CONDITIONS.get(self.value())
        return queryset if condition is None else queryset.filter(condition)


class ReadOnlyAdmin(admin.ModelAdmin):
    """View only: stored events and presence rows change through the service, never by hand."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = (
        "position",
        "kind",
        "user",
        "seq",
        "created_at",
        "delivery_state",
        "fanout_attempts",
        "fanout_failed_at",
        "fanout_error",
    )
    list_filter = ("kind", ("user", admin.RelatedOnlyFieldListFilter), DeliveryStateFilter, "created_at")
    search_fields = ("id", "user__username")
    list_select_related = ("user",)

    fields = (
        "position",
        "id",
        "kind",
        "user",
        "seq",
        "request",
        "payload_as_json",
        "created_at",
        "fanned_out_at",
        "fanout_attempts",
        "fanout_claimed_until",
        "fanout_failed_at",
        "fanout_error",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        """Leave payloads out until shown: one the outbox gave up on may not even load (fanout_error says why)."""
        return super().get_queryset(request).defer("payload")

    @admin.display(description="payload")
    def payload_as_json(self, obj: Event) -> str:
        """Show the payload as ASCII JSON, or why it cannot be shown (a poison event's may not load or encode)."""
        if isinstance(obj.payload, UnreadablePayload):
            return f"(cannot be shown: {obj.payload.reason})"
        try:
            return json.dumps(obj.payload, ensure_ascii=True, allow_nan=False)
        except BAD_PAYLOAD_ERRORS as exc:
            return f"(cannot be shown: {exc.__class__.__name__})"


# --- announcements -----------------------------------------------------------------------


class AnnouncementForm(forms.ModelForm):
    """Compose an announcement; saving sends it to everyone (actions.do_broadcast)."""

    title = forms.CharField(max_length=200)
    body = forms.CharField(widget=forms.Textarea, required=False, max_length=5000)
    level = forms.ChoiceField(choices=AnnouncementLevel.choices, initial=AnnouncementLevel.INFO)

    class Meta:
        model = Announcement
        fields = ()


@admin.register(Announcement)
class AnnouncementAdmin(admin.ModelAdmin):
    form = AnnouncementForm
    fields = ("title", "body", "level")
    list_display = ("title", "level", "created_at", "delivery_state")
    search_fields = ("payload__title",)

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a sent announcement is history

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Announcement, form, change: bool) -> None:
        """Send instead of saving the form's object: the same path as POST /api/v1/broadcasts/."""
        event = actions.do_broadcast(**{name: form.cleaned_data[name] for name in ("title", "body", "level")})
        obj.pk = event.pk
        obj.refresh_from_db()
        self.message_user(request, "Sent to everyone: every open page shows it now.")

    @admin.display(description="title")
    def title(self, obj: Announcement) -> str:
        return obj.payload.get("title", "")

    @admin.display(description="body")
    def body(self, obj: Announcement) -> str:
        return obj.payload.get("body", "")

    @admin.display(description="level")
    def level(self, obj: Announcement) -> str:
        return obj.payload.get("level", "")


# --- service clients ---------------------------------------------------------------------


class ServiceWebhookForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https")

    class Meta:
        model = WebhookEndpoint
        fields = ("url", "secret", "is_active")


class ServiceWebhookInline(admin.TabularInline):
    """The service's own webhook: it receives request.unseen of the requests this service published."""

    model = WebhookEndpoint
    form = ServiceWebhookForm
    extra = 0
    verbose_name = "webhook (request.unseen of this service's requests)"
    verbose_name_plural = "webhooks (request.unseen of this service's requests)"


@admin.register(ServiceClient)
class ServiceClientAdmin(admin.ModelAdmin):
    list_display = ("name", "token_prefix", "can_publish", "can_broadcast", "is_active", "last_used_at", "rotated_at")
    list_filter = ("is_active", "can_publish", "can_broadcast")
    search_fields = ("name", "token_prefix")
    fields = (
        "name",
        "can_publish",
        "can_broadcast",
        "is_active",
        "token_prefix",
        "created_at",
        "rotated_at",
        "last_used_at",
    )
    readonly_fields = ("is_active", "token_prefix", "created_at", "rotated_at", "last_used_at")
    actions = ["rotate_tokens", "revoke_tokens"]
    inlines = [ServiceWebhookInline]

    def get_inlines(self, request: HttpRequest, obj=None) -> list:
        """The webhook is set on the service's page once it exists (adding shows the token first)."""
        return self.inlines if obj is not None else []

    def save_model(self, request: HttpRequest, obj: ServiceClient, form, change: bool) -> None:
        if change:
            obj.save()
            return
        self._show_token_once(request, obj, service_tokens.issue_token(obj))

    @admin.action(description="Rotate the tokens of the selected clients (the old tokens stop working)")
    def rotate_tokens(self, request: HttpRequest, queryset) -> None:
        for client in queryset:
            self._show_token_once(request, client, service_tokens.rotate_token(client))

    @admin.action(description="Revoke the selected clients (their tokens stop working at once)")
    def revoke_tokens(self, request: HttpRequest, queryset) -> None:
        for client in queryset:
            service_tokens.revoke(client)
        self.message_user(request, f"Revoked {queryset.count()} client(s).")

    def _show_token_once(self, request: HttpRequest, client: ServiceClient, raw: str) -> None:
        self.message_user(
            request,
            f"The token of {client.name} is shown only this once; copy it now: {raw}",
            messages.WARNING,
        )


# --- presence ----------------------------------------------------------------------------


class OnlineFilter(admin.SimpleListFilter):
    title = "online"
    parameter_name = "online"

    def lookups(self, request, model_admin):
        return [("yes", "online now"), ("no", "stale (instance gone)")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(last_seen__gte=presence.fresh_after())
        if self.value() == "no":
            return queryset.filter(last_seen__lt=presence.fresh_after())
        return queryset


@admin.register(Connection)
class ConnectionAdmin(ReadOnlyAdmin):
    list_display = (
        "user",
        "instance",
        "protocol",
        "connected_at",
        "last_activity",
        "last_seen",
        "is_online",
        "disconnect_requested_at",
    )
    list_filter = (OnlineFilter, "protocol", "instance")
    search_fields = ("user__username", "connection_id", "instance")
    list_select_related = ("user",)
    actions = ["disconnect_users"]

    @admin.display(boolean=True, description="online")
    def is_online(self, obj: Connection) -> bool:
        return obj.last_seen >= presence.fresh_after()

    @admin.action(description="Disconnect these users' sockets on every instance (close code 4000)")
    def disconnect_users(self, request: HttpRequest, queryset) -> None:
        user_ids = set(queryset.values_list("user_id", flat=True))
        for user_id in user_ids:
            actions.do_disconnect_user(user_id)
        self.message_user(request, f"Asked every instance to close the sockets of {len(user_ids)} user(s).")


@admin.register(StreamHead)
class StreamHeadAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "last_seq", "read_position", "pruned_through_seq")


# --- connection events and webhooks (PROTOCOL 5.2) -----------------------------------------------


@admin.register(ConnectionEvent)
class ConnectionEventAdmin(ReadOnlyAdmin):
    list_display = ("position", "type", "connection_id", "instance", "created_at", "published_at", "publish_attempts")
    list_filter = ("type", ("published_at", admin.EmptyFieldListFilter))
    search_fields = ("connection_id", "event_id", "instance")


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(
        choices=[(t, t) for t in (*connection_events.TYPES, *webhooks.SERVICE_EVENT_TYPES)],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every type it may take (without a service: connection events; with one: "
        "request.unseen of that service's requests).",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ("url", "service", "secret", "events", "is_active")

    def clean(self) -> dict:
        """Refuse a type the endpoint may not take: a service's takes only what is about its own requests."""
        cleaned = super().clean()
        service = cleaned.get("service")
        allowed = webhooks.SERVICE_EVENT_TYPES if service else connection_events.TYPES
        refused = sorted(set(cleaned.get("events") or []) - set(allowed))
        if refused:
            whose = "A service's endpoint" if service else "An endpoint without a service"
            self.add_error("events", f"{whose} cannot take {', '.join(refused)}.")
        return cleaned


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ("url", "service", "events", "is_active", "updated_at")
    list_filter = ("is_active", ("service", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("service",)


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fields = ("attempted_at", "ok", "status_code", "duration_ms", "error", "answer")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("id",)

    def has_add_permission(self, request, obj=None) -> bool:
        return False


def delivery_state(delivery: WebhookDelivery) -> str:
    if delivery.delivered_at:
        return "delivered"
    return "gave up" if delivery.gave_up_at else "retrying" if delivery.attempts else "pending"


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("id", "endpoint", "subject", "state", "attempts", "next_attempt_at", "delivered_at", "gave_up_at")
    list_filter = ("endpoint", ("delivered_at", admin.EmptyFieldListFilter), ("gave_up_at", admin.EmptyFieldListFilter))
    list_select_related = ("endpoint", "event", "escalation")
    inlines = [WebhookAttemptInline]

    @admin.display(description="event")
    def subject(self, delivery: WebhookDelivery) -> str:
        return delivery.event_type if delivery.event_id is None else str(delivery.event)

    @admin.display(description="state")
    def state(self, delivery: WebhookDelivery) -> str:
        return delivery_state(delivery)


@admin.register(WebhookAttempt)
class WebhookAttemptAdmin(ReadOnlyAdmin):
    list_display = ("id", "delivery", "attempted_at", "ok", "status_code", "duration_ms", "error")
    list_filter = ("ok", "status_code")


@admin.register(UnseenEscalation)
class UnseenEscalationAdmin(ReadOnlyAdmin):
    """Finished requests nobody saw in time: when each is due, whether its owner was e-mailed, which services told."""

    list_display = ("request", "user", "state", "due_at", "escalated_at", "escalated_via", "webhooks", "outcome")
    list_filter = (("escalated_at", admin.EmptyFieldListFilter), ("cancelled_at", admin.EmptyFieldListFilter))
    search_fields = ("request__title", "user__username")
    list_select_related = ("request", "user")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("webhook_deliveries__endpoint__service")

    @admin.display(description="state")
    def state(self, item: UnseenEscalation) -> str:
        if item.escalated_at:
            return "escalated" if item.escalated_via else "settled, nobody told"
        return "read in time" if item.cancelled_at else "waiting"

    @admin.display(description="request.unseen webhooks")
    def webhooks(self, item: UnseenEscalation) -> str:
        """Each publishing service's delivery and its state (retries and answers are under Webhook deliveries)."""
        deliveries = item.webhook_deliveries.all()
        return ", ".join(f"{d.endpoint.service}: {delivery_state(d)}" for d in deliveries) or "–"
