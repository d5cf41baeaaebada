"""`manage.py create_service_token NAME [--permission publish] [--permission broadcast]`.

Creates the service client NAME, or rotates its token if it exists, gives it
exactly the named permissions and reactivates it. The new token goes to stdout
alone (so `TOKEN=$(manage.py create_service_token worker ...)` works) and is
shown only this once; only its digest is stored.
"""

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone

from notifications.api.permissions import SERVICE_PERMISSIONS
from notifications.models import ServiceClient


class Command(BaseCommand):
    help = "Create or rotate a service client's token and print the token once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="The service client's name.")
        parser.add_argument(
            "--permission",
            action="append",
            default=[],
            choices=sorted(SERVICE_PERMISSIONS),
            help="A permission to grant (repeatable); the client gets exactly the ones named.",
        )

    def handle(self, *args, name: str, permission: list[str], **options) -> None:
        with transaction.atomic():
            client, created, token = self.perform_issue(name, set(permission))
        verb = "Created" if created else "Rotated the token of"
        granted = ", ".join(sorted(permission)) or "no permissions"
        self.stderr.write(f"{verb} service client {client.name!r} ({granted}). The token is shown only once:")
        self.stdout.write(token)

    def perform_issue(self, name: str, permissions: set[str]) -> tuple[ServiceClient, bool, str]:
        """Create or rotate the client with exactly `permissions`; return it, whether new, and the raw token."""
        client = ServiceClient.objects.select_for_update().filter(name=name).first()
        created = client is None
        if created:
            client = ServiceClient(name=name)
        else:
            client.rotated_at = timezone.now()
        token = client.set_new_token()
        for permission, field in SERVICE_PERMISSIONS.items():
            setattr(client, field, permission in permissions)
        client.is_active = True
        client.save()
        return client, created, token
