"""Create the demo accounts scripts/run needs; safe to run on every start.

- user `demo`, password from NOTIFY_DEMO_PASSWORD (default "demo");
- service client `demo-worker` (publish + broadcast), whose raw token is kept in
  var/demo-service-token (mode 600) and rotated only when that file no longer
  matches a live client;
- staff superuser `admin`, only when NOTIFY_DEMO_ADMIN_PASSWORD is set.
"""

import os
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from notifications.models import ServiceClient, hash_secret

DEMO_USERNAME = "demo"
DEFAULT_DEMO_PASSWORD = "demo"
ADMIN_USERNAME = "admin"
WORKER_NAME = "demo-worker"
TOKEN_FILE_MODE = 0o600


def get_token_path() -> Path:
    """Return where the demo worker's raw token is kept."""
    return Path(settings.BASE_DIR) / "var" / "demo-service-token"


class Command(BaseCommand):
    help = "Create the demo user, the demo-worker service client (token in var/) and, if asked, an admin."

    def handle(self, *args, **options) -> None:
        with transaction.atomic():
            self.perform_seed_user()
            self.perform_seed_admin()
            self.perform_seed_worker()

    def perform_seed_user(self) -> None:
        explicit = os.environ.get("NOTIFY_DEMO_PASSWORD")
        user, created = get_user_model().objects.get_or_create(username=DEMO_USERNAME)
        if created or explicit:
            user.set_password(explicit or DEFAULT_DEMO_PASSWORD)
            user.save()
        self.stdout.write(f"Demo user '{DEMO_USERNAME}' {'created' if created else 'ready'}.")

    def perform_seed_admin(self) -> None:
        password = os.environ.get("NOTIFY_DEMO_ADMIN_PASSWORD")
        if not password:
            return
        user, created = get_user_model().objects.get_or_create(username=ADMIN_USERNAME)
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        self.stdout.write(f"Admin user '{ADMIN_USERNAME}' {'created' if created else 'updated'}.")

    def perform_seed_worker(self) -> None:
        path = get_token_path()
        client = ServiceClient.objects.filter(name=WORKER_NAME).first()
        if client is not None and has_matching_token(client, path):
            self.perform_grant(client)
            self.stdout.write(f"Service client '{WORKER_NAME}' ready; its token is in {path}.")
            return
        client = client or ServiceClient(name=WORKER_NAME)
        raw = client.set_new_token()
        client.rotated_at = timezone.now() if client.pk else None
        self.perform_grant(client)
        write_secret(path, raw)
        self.stdout.write(f"Service client '{WORKER_NAME}' given a new token, written to {path}.")

    def perform_grant(self, client: ServiceClient) -> None:
        client.can_publish = client.can_broadcast = client.is_active = True
        client.save()


def has_matching_token(client: ServiceClient, path: Path) -> bool:
    """Answer whether the token file holds the live token of this client."""
    if not client.is_active or not path.is_file():
        return False
    return hash_secret(path.read_text().strip()) == client.token_hash


def write_secret(path: Path, value: str) -> None:
    """Write a secret readable by its owner only, replacing any older file whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, TOKEN_FILE_MODE)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    os.chmod(tmp, TOKEN_FILE_MODE)
    os.replace(tmp, path)
