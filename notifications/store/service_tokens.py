"""A service client's token lifecycle: issue, rotate, revoke (the admin and the command call these).

Only the token's digest is stored, so the raw value these return is the only
chance to read it. Authentication reads the client row on every request (no
cache), so a rotation or revocation takes effect on the next request.
"""

from django.db import transaction
from django.utils import timezone

from notifications.models import ServiceClient


def issue_token(client: ServiceClient) -> str:
    """Save a new client with a fresh token and return the raw token."""
    raw = client.set_new_token()
    client.save()
    return raw


def rotate_token(client: ServiceClient) -> str:
    """Replace the client's token (the old one stops working at once), reactivate it, return the new raw token."""
    with transaction.atomic():
        raw = client.set_new_token()
        client.rotated_at = timezone.now()
        client.is_active = True
        client.save(update_fields=["token_hash", "token_prefix", "rotated_at", "is_active"])
    return raw


def revoke(client: ServiceClient) -> None:
    """Deactivate the client: its token is refused from the next request on."""
    ServiceClient.objects.filter(pk=client.pk).update(is_active=False)
    client.is_active = False
