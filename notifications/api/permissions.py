"""Who may call what: one policy per class, combined in the views with `|`.

A service client authenticates as itself (see `authentication.py`): it is
never a signed-in user and never staff, whatever its permissions.
"""

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from notifications.models import ServiceClient


def is_service(principal) -> bool:
    """Return whether the authenticated principal is a service client rather than a person."""
    return isinstance(principal, ServiceClient)


class IsSignedInUser(BasePermission):
    """Allow a signed-in Django user; refuse services and anonymous callers."""

    message = "This endpoint is for signed-in users."

    def has_permission(self, request: Request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and not is_service(user))


class IsStaffUser(BasePermission):
    """Allow a signed-in staff user."""

    message = "This endpoint is for staff."

    def has_permission(self, request: Request, view) -> bool:
        return IsSignedInUser().has_permission(request, view) and request.user.is_staff


class IsServiceWithPermission(BasePermission):
    """Allow a service client that holds `permission`; subclasses name it."""

    permission = ""

    def has_permission(self, request: Request, view) -> bool:
        client = request.user
        return is_service(client) and client.is_active and has_service_permission(client, self.permission)

    @property
    def message(self) -> str:
        return f"This service token lacks the {self.permission} permission."


class CanPublish(IsServiceWithPermission):
    """Allow a service that may create requests and publish their status."""

    permission = "publish"


class CanBroadcast(IsServiceWithPermission):
    """Allow a service that may send announcements to everyone."""

    permission = "broadcast"


SERVICE_PERMISSIONS = {"publish": "can_publish", "broadcast": "can_broadcast"}


def has_service_permission(client: ServiceClient, permission: str) -> bool:
    """Return whether the client holds the named permission ('publish' or 'broadcast')."""
    if permission not in SERVICE_PERMISSIONS:
        raise ValueError(f"Unknown service permission {permission!r}; use one of {sorted(SERVICE_PERMISSIONS)}.")
    return getattr(client, SERVICE_PERMISSIONS[permission])
