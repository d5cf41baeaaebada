"""`Authorization: Token <key>`: how a backend service authenticates to the REST API (and the socket gateway's user).

The principal is the `ServiceClient` itself (request.user and request.auth),
never a Django user, so a token can do only what its client's permissions say.
Only the token's digest is stored; the raw token is never logged.
"""

from datetime import timedelta

from django.utils import timezone
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from notifications.models import ServiceClient, hash_secret
from notifications.realtime.gateway.local import GATEWAY_USER_ATTRIBUTE

KEYWORD = "Token"
# Recording each use would write on every request; a minute is precise enough to spot unused tokens.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class ServiceTokenAuthentication(BaseAuthentication):
    """Authenticate an active service client by its token; anything else with `Token` is refused."""

    keyword = KEYWORD

    def authenticate(self, request: Request) -> tuple[ServiceClient, ServiceClient] | None:
        key = self.get_key(request)
        if key is None:
            return None
        try:
            client = ServiceClient.objects.get(token_hash=hash_secret(key), is_active=True)
        except ServiceClient.DoesNotExist:
            raise AuthenticationFailed("Invalid or revoked token.") from None
        self.perform_touch(client)
        return client, client

    def authenticate_header(self, request: Request) -> str:
        """Name the scheme, so DRF answers an unauthenticated request with 401, not 403."""
        return self.keyword

    def get_key(self, request: Request) -> str | None:
        """Return the raw token of a `Token` header, None for another scheme; raise if malformed."""
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("Invalid token header: expected 'Token <key>'.")
        try:
            return parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed("Invalid token header: the key must be ASCII.") from None

    def perform_touch(self, client: ServiceClient) -> None:
        """Record when the client was last seen, at most once per LAST_USED_RESOLUTION."""
        now = timezone.now()
        if client.last_used_at is not None and now - client.last_used_at < LAST_USED_RESOLUTION:
            return
        ServiceClient.objects.filter(pk=client.pk).update(last_used_at=now)
        client.last_used_at = now


class GatewayUserAuthentication(BaseAuthentication):
    """Authenticate a request a socket's `request` frame runs in process as that socket's (active) user.

    The user is an attribute `realtime.gateway.local` sets on a request it
    builds itself; nothing from the network sets it, and no header is read.
    Not SessionAuthentication, so no CSRF check: the socket's Origin was
    checked at its handshake.
    """

    def authenticate(self, request: Request):
        user = getattr(request._request, GATEWAY_USER_ATTRIBUTE, None)
        if user is None:
            return None
        if not user.is_active:
            raise AuthenticationFailed("The socket's user is no longer active.")
        return user, None
