"""Socket JWTs (PROTOCOL section 5.4): the verification key the settings name, and what a token says.

PyJWT checks the signature, `exp` (required) and `sub` (required), `nbf`
and `iat` when present, `iss` / `aud` when configured, all with the
leeway. The key pins the algorithm: an RSA public key verifies RS256 only,
an EC P-256 key ES256 only, the secret HS256 only, so `alg: none`, or an
HS256 token "signed" with the public key's bytes, never verifies.
`verify_token` is pure; `check_token` reads the settings and the key file
(cached by path and modification time, so a rotated key is read again).
"""

import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from notifications import conf

logger = logging.getLogger(__name__)

# A username, as Django's default user model bounds it.
MAX_SUBJECT_LENGTH = 150
# Far above any real token; refused before any decoding work.
MAX_TOKEN_LENGTH = 8192


class InvalidToken(Exception):
    """A token that authenticates nobody; `reason` is logged, never the token."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class JwtConfigurationError(Exception):
    """The JWT settings cannot work: both key settings, or a key file that holds no usable public key."""


@dataclass(frozen=True)
class VerificationKey:
    """A key and the one algorithm it verifies."""

    key: object  # a cryptography public key, or the HS256 secret's bytes
    algorithms: tuple[str, ...]


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token says: its user's username and when it expires."""

    username: str
    expires_at: datetime


def key_of_pem(data: bytes) -> VerificationKey:
    """Return the verification key of a PEM public key or certificate; raise JwtConfigurationError otherwise."""
    try:
        if b"BEGIN CERTIFICATE" in data:
            public_key = x509.load_pem_x509_certificate(data).public_key()
        else:
            public_key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise JwtConfigurationError(f"not a PEM public key or certificate: {exc}") from None
    if isinstance(public_key, rsa.RSAPublicKey):
        return VerificationKey(public_key, ("RS256",))
    if isinstance(public_key, ec.EllipticCurvePublicKey) and isinstance(public_key.curve, ec.SECP256R1):
        return VerificationKey(public_key, ("ES256",))
    raise JwtConfigurationError("the public key must be RSA (RS256) or EC P-256 (ES256)")


_cache: tuple[tuple, VerificationKey] | None = None


def _key_of_file(path: str) -> VerificationKey:
    global _cache
    try:
        stat = os.stat(path)
        stamp = (path, stat.st_mtime_ns, stat.st_size)
        if _cache is not None and _cache[0] == stamp:
            return _cache[1]
        with open(path, "rb") as file:
            key = key_of_pem(file.read())
    except OSError as exc:
        raise JwtConfigurationError(f"cannot read NOTIFY_JWT_PUBLIC_KEY_FILE {path!r}: {exc.strerror}") from None
    _cache = (stamp, key)
    return key


def get_verification_key() -> VerificationKey | None:
    """Return the configured key (None: tokens are not accepted); raise JwtConfigurationError if it cannot work."""
    path, secret = conf.jwt_public_key_file(), conf.jwt_secret()
    if path and secret:
        raise JwtConfigurationError("set NOTIFY_JWT_PUBLIC_KEY_FILE or NOTIFY_JWT_SECRET, not both")
    if path:
        return _key_of_file(path)
    if secret:
        return VerificationKey(secret.encode("utf-8"), ("HS256",))
    return None


def verify_token(
    raw_token: str, key: VerificationKey, *, issuer: str = "", audience: str = "", leeway_secs: float = 0
) -> TokenClaims:
    """Return the claims of a token that `key` verifies and that has not expired; raise InvalidToken otherwise."""
    if len(raw_token) > MAX_TOKEN_LENGTH:
        raise InvalidToken("too_long")
    options = {"require": ["exp", "sub", *(["iss"] if issuer else []), *(["aud"] if audience else [])]}
    if not audience:
        options["verify_aud"] = False
    try:
        claims = jwt.decode(
            raw_token,
            key.key,
            algorithms=list(key.algorithms),
            options=options,
            issuer=issuer or None,
            audience=audience or None,
            leeway=leeway_secs,
        )
        expires_at = datetime.fromtimestamp(claims["exp"], UTC)
    except jwt.ExpiredSignatureError:
        raise InvalidToken("expired") from None
    except jwt.PyJWTError as exc:
        raise InvalidToken(type(exc).__name__) from None
    except (TypeError, ValueError, OverflowError, OSError):
        raise InvalidToken("bad_exp") from None
    return TokenClaims(check_subject(claims["sub"]), expires_at)


def check_subject(subject: object) -> str:
    """Return `sub` if it can name a user (a short string of characters, no NUL); raise InvalidToken otherwise."""
    if not isinstance(subject, str) or not 0 < len(subject) <= MAX_SUBJECT_LENGTH or "\x00" in subject:
        raise InvalidToken("bad_subject")
    try:
        subject.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, from a `\ud800` escape in the payload
        raise InvalidToken("bad_subject") from None
    return subject


def check_token(raw_token: str) -> TokenClaims:
    """Return the claims of a token verified with the configured key; raise InvalidToken otherwise."""
    try:
        key = get_verification_key()
    except JwtConfigurationError as exc:
        logger.error("socket tokens cannot be verified: %s", exc, extra={"event": "jwt.misconfigured"})
        raise InvalidToken("misconfigured") from None
    if key is None:
        raise InvalidToken("not_configured")
    return verify_token(
        raw_token, key, issuer=conf.jwt_issuer(), audience=conf.jwt_audience(), leeway_secs=conf.jwt_leeway_secs()
    )
