"""`manage.py create_webhook URL --secret S [--event user.connected] [--event user.disconnected]`.

Creates the webhook endpoint of URL, or updates the one that exists (its
secret and events; it is reactivated), for PROTOCOL 5.2's connection
events: both types when none is named.
"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import URLValidator

from notifications.store import connection_events, webhooks


class Command(BaseCommand):
    help = "Create or update a webhook endpoint that receives user.connected / user.disconnected."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("url", help="The receiver's http(s) URL.")
        parser.add_argument("--secret", required=True, help="The secret the POSTs are signed with (HMAC-SHA256).")
        parser.add_argument(
            "--event",
            action="append",
            default=[],
            choices=connection_events.TYPES,
            help="An event type to send (repeatable); none named: both.",
        )

    def handle(self, *args, url: str, secret: str, event: list[str], **options) -> None:
        self.check_arguments(url, secret)
        endpoint, created = webhooks.save_endpoint(url, secret, event or list(connection_events.TYPES))
        verb = "Created" if created else "Updated"
        self.stdout.write(f"{verb} webhook {endpoint.url} ({', '.join(endpoint.events)}).")

    def check_arguments(self, url: str, secret: str) -> None:
        """Raise CommandError for a URL that is not http(s) or an empty secret."""
        try:
            URLValidator(schemes=["http", "https"])(url)
        except ValidationError:
            raise CommandError(f"not an http(s) URL: {url!r}") from None
        if not secret:
            raise CommandError("--secret must not be empty")
