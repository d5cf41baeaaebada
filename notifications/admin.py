"""Admin registrations to inspect the stored state."""

from django.contrib import admin

from .models import Event, ServiceClient, StreamHead, TrackedRequest


class EventInline(admin.TabularInline):
    model = Event
    fields = ("position", "kind", "seq", "payload", "created_at", "fanned_out_at", "fanout_attempts")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("position",)

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(TrackedRequest)
class TrackedRequestAdmin(admin.ModelAdmin):
    list_display = ("title", "owner", "status", "progress", "updated_at")
    list_filter = ("status", "updated_at")
    search_fields = ("title", "external_id", "owner__username")
    readonly_fields = ("id", "owner", "status", "progress", "message", "created_at", "updated_at")
    inlines = [EventInline]


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("position", "kind", "user", "seq", "created_at", "delivery_state")
    list_filter = ("kind", "created_at")
    search_fields = ("id", "user__username")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ServiceClient)
class ServiceClientAdmin(admin.ModelAdmin):
    list_display = ("name", "token_prefix", "can_publish", "can_broadcast", "is_active", "last_used_at")
    readonly_fields = ("token_prefix", "created_at", "rotated_at", "last_used_at")


@admin.register(StreamHead)
class StreamHeadAdmin(admin.ModelAdmin):
    list_display = ("__str__", "last_seq", "read_position", "pruned_through_seq")
    readonly_fields = ("user", "last_seq", "read_position", "pruned_through_seq")
