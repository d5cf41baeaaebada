"""The JWT an upstream call carries: the socket's user, for one service, signed with the gateway's private key.

The key type pins the algorithm (RSA: RS256, EC P-256: ES256). The key file
is read when used and cached by path and modification time, so a rotated
key is picked up without a restart.
"""

import os
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from notifications import conf

ISSUER = "notify"
LIFETIME_SECS = 60


class SigningKeyError(Exception):
    """NOTIFY_GATEWAY_PRIVATE_KEY_FILE is unset, unreadable, or holds no RSA or EC P-256 private key."""


def algorithm_of(key) -> str:
    """Return the one algorithm `key` signs with; raise SigningKeyError for another kind of key."""
    if isinstance(key, rsa.RSAPrivateKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    raise SigningKeyError("the gateway's private key must be RSA (RS256) or EC P-256 (ES256)")


def load_key(data: bytes):
    """Return the private key of PEM `data`; raise SigningKeyError if it is none the gateway signs with."""
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"not an unencrypted PEM private key: {str(exc)[:80]}") from None
    algorithm_of(key)
    return key


_cache: tuple[tuple, object] | None = None


def get_signing_key():
    """Return the configured private key, read again when its file changed; raise SigningKeyError."""
    global _cache
    path = conf.gateway_private_key_file()
    if not path:
        raise SigningKeyError("NOTIFY_GATEWAY_PRIVATE_KEY_FILE is not set")
    try:
        stat = os.stat(path)
        identity = (path, stat.st_mtime_ns, stat.st_size)
        if _cache is None or _cache[0] != identity:
            with open(path, "rb") as key_file:
                _cache = (identity, load_key(key_file.read()))
    except OSError as exc:
        raise SigningKeyError(f"NOTIFY_GATEWAY_PRIVATE_KEY_FILE cannot be read: {exc.strerror}") from None
    return _cache[1]


def sign(key, username: str, service: str, now: float | None = None) -> str:
    """Return the JWT naming `username` to `service`: iss notify, sub, aud, iat, exp 60 s ahead."""
    issued_at = int(time.time() if now is None else now)
    claims = {"iss": ISSUER, "sub": username, "aud": service, "iat": issued_at, "exp": issued_at + LIFETIME_SECS}
    return jwt.encode(claims, key, algorithm_of(key))
