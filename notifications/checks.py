"""Configuration checks run by `manage.py check` and before daphne serves (`project/asgi.py`).

A setting that cannot work is an `Error` here, so the service refuses to
start instead of refusing every socket later.
"""

from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from notifications import conf
from notifications.realtime.gateway.signing import SigningKeyError, get_signing_key
from notifications.realtime.jwt_auth import JwtConfigurationError, get_verification_key

# PyJWT warns below this; RFC 7518 asks HS256 keys to be at least as long as the hash.
MIN_SECRET_BYTES = 32


@checks.register(checks.Tags.security)
def check_jwt_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Return an Error for JWT settings that cannot verify tokens, a Warning for a short HS256 secret."""
    try:
        get_verification_key()
    except JwtConfigurationError as exc:
        return [checks.Error(str(exc), hint="See docs/jwt.md.", id="notifications.E001")]
    if conf.jwt_secret() and len(conf.jwt_secret().encode("utf-8")) < MIN_SECRET_BYTES:
        return [
            checks.Warning(
                f"NOTIFY_JWT_SECRET is shorter than {MIN_SECRET_BYTES} bytes",
                hint="Use a random secret of 32 bytes or more.",
                id="notifications.W001",
            )
        ]
    return []


@checks.register(checks.Tags.security)
def check_gateway_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Return an Error for malformed upstreams, or upstreams without a readable private key to sign for them."""
    try:
        if not conf.gateway_upstreams():
            return []
        get_signing_key()
    except (ValueError, SigningKeyError) as exc:
        return [checks.Error(str(exc), hint="See docs/gateway.md.", id="notifications.E002")]
    return []


def check_startup() -> None:
    """Raise ImproperlyConfigured if a configuration check finds an error (daphne then exits before serving)."""
    found = check_jwt_settings() + check_gateway_settings()
    errors = [message for message in found if message.is_serious()]
    if errors:
        raise ImproperlyConfigured("; ".join(f"{error.id}: {error.msg}" for error in errors))
