"""`manage.py create_webhook URL --secret S [--event TYPE ...] [--service NAME]`.

Creates the webhook endpoint of URL, or updates the one that exists (its
secret, events and service; it is reactivated). Without `--service` it is
an operator's receiver of PROTOCOL 5.2's connection events (both types when
none is named). With `--service NAME` it belongs to that publishing service
and receives `request.unseen` for the requests the service published.
"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import URLValidator

from notifications.models import ServiceClient
from notifications.store import connection_events, webhooks


class Command(BaseCommand):
    help = (
        "Create or update a webhook endpoint: an operator's, receiving user.connected / user.disconnected, "
        "or (--service) a publishing service's, receiving request.unseen of its requests."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("url", help="The receiver's http(s) URL.")
        parser.add_argument("--secret", required=True, help="The secret the POSTs are signed with (HMAC-SHA256).")
        parser.add_argument(
            "--event",
            action="append",
            default=[],
            choices=[*connection_events.TYPES, *webhooks.SERVICE_EVENT_TYPES],
            help="An event type to send (repeatable); none named: every type the endpoint may take.",
        )
        parser.add_argument(
            "--service", help="The service client (by name) the endpoint belongs to: it then receives request.unseen."
        )

    def handle(self, *args, url: str, secret: str, event: list[str], service: str | None, **options) -> None:
        self.check_arguments(url, secret)
        client = self.get_service(service)
        allowed = webhooks.SERVICE_EVENT_TYPES if client else connection_events.TYPES
        self.check_events(event, allowed, client)
        endpoint, created = webhooks.save_endpoint(url, secret, event or list(allowed), client)
        verb = "Created" if created else "Updated"
        owner = f" of service {client.name}" if client else ""
        self.stdout.write(f"{verb} webhook {endpoint.url}{owner} ({', '.join(endpoint.events)}).")

    def check_arguments(self, url: str, secret: str) -> None:
        """Raise CommandError for a URL that is not http(s) or an empty secret."""
        try:
            URLValidator(schemes=["http", "https"])(url)
        except ValidationError:
            raise CommandError(f"not an http(s) URL: {url!r}") from None
        if not secret:
            raise CommandError("--secret must not be empty")

    def get_service(self, name: str | None) -> ServiceClient | None:
        if name is None:
            return None
        client = ServiceClient.objects.filter(name=name).first()
        if client is None:
            raise CommandError(f"no service client named {name!r} (create it with create_service_token)")
        return client

    def check_events(self, events: list[str], allowed: tuple[str, ...], client: ServiceClient | None) -> None:
        """Raise CommandError for a type this endpoint may not take (a service's takes only its requests' events)."""
        refused = sorted(set(events) - set(allowed))
        if refused:
            whose = "a service's endpoint" if client else "an endpoint without --service"
            raise CommandError(f"{whose} cannot take {', '.join(refused)}; it may take {', '.join(allowed)}")
