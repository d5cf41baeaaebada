"""Verifying socket JWTs (realtime/jwt_auth.py): keys pin their algorithm, `exp` and `sub` are required."""

import base64
import hashlib
import hmac
import json
import os
import time
from datetime import UTC, datetime

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.test import override_settings

from notifications.realtime import jwt_auth
from notifications.realtime.jwt_auth import InvalidToken, JwtConfigurationError, key_of_pem, verify_token

SECRET = "a-test-secret-of-at-least-thirty-two-bytes"


def _pem(private_key) -> bytes:
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key():
    return ec.generate_private_key(ec.SECP256R1())


def claims(**extra) -> dict:
    return {"sub": "ada", "exp": int(time.time()) + 60, **extra}


def _unsigned(payload: dict, header: dict) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(payload)}."


def test_rs256_token_verifies_with_the_rsa_public_key(rsa_key):
    """An RS256 token signed by the private key verifies with its PEM public key; sub and exp come back."""
    payload = claims()
    verified = verify_token(jwt.encode(payload, rsa_key, "RS256"), key_of_pem(_pem(rsa_key)))
    assert verified.username == "ada"
    assert verified.expires_at == datetime.fromtimestamp(payload["exp"], UTC)


def test_es256_token_verifies_with_the_ec_public_key(ec_key):
    """An ES256 token verifies with a P-256 public key, which accepts ES256 only."""
    key = key_of_pem(_pem(ec_key))
    assert key.algorithms == ("ES256",)
    assert verify_token(jwt.encode(claims(), ec_key, "ES256"), key).username == "ada"


def test_hs256_token_verifies_with_the_secret():
    """An HS256 token verifies with the shared secret; a token signed with another secret does not."""
    key = jwt_auth.VerificationKey(SECRET.encode(), ("HS256",))
    assert verify_token(jwt.encode(claims(), SECRET, "HS256"), key).username == "ada"
    with pytest.raises(InvalidToken):
        verify_token(jwt.encode(claims(), SECRET + "x", "HS256"), key)


def test_a_token_signed_by_another_key_is_refused(rsa_key):
    """A valid RS256 signature by a different private key is refused."""
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(InvalidToken):
        verify_token(jwt.encode(claims(), other, "RS256"), key_of_pem(_pem(rsa_key)))


def test_hs256_signed_with_the_public_key_bytes_is_refused(rsa_key):
    """The algorithm-confusion attack: HS256 keyed by the PEM public key never verifies against that key."""
    forged = _unsigned(claims(), {"alg": "HS256", "typ": "JWT"})
    signing_input = forged[:-1].encode()
    signature = hmac.new(_pem(rsa_key), signing_input, hashlib.sha256).digest()
    forged += base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
    with pytest.raises(InvalidToken):
        verify_token(forged, key_of_pem(_pem(rsa_key)))


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_is_refused_with_every_key_type(rsa_key, alg):
    """An unsigned `alg: none` token is refused, whatever the key."""
    token = _unsigned(claims(), {"alg": alg, "typ": "JWT"})
    for key in (key_of_pem(_pem(rsa_key)), jwt_auth.VerificationKey(SECRET.encode(), ("HS256",))):
        with pytest.raises(InvalidToken):
            verify_token(token, key)


def test_an_rs256_token_is_refused_by_an_ec_key(rsa_key, ec_key):
    """The key pins the algorithm: an EC key refuses an RS256 token."""
    with pytest.raises(InvalidToken):
        verify_token(jwt.encode(claims(), rsa_key, "RS256"), key_of_pem(_pem(ec_key)))


@pytest.mark.parametrize("missing", ["exp", "sub"])
def test_a_token_without_exp_or_sub_is_refused(missing):
    """`exp` and `sub` are required claims."""
    payload = claims()
    del payload[missing]
    with pytest.raises(InvalidToken):
        verify_token(jwt.encode(payload, SECRET, "HS256"), jwt_auth.VerificationKey(SECRET.encode(), ("HS256",)))


def test_expiry_counts_the_leeway():
    """A token expired 5 s ago is refused without leeway and accepted with 10 s of it."""
    key = jwt_auth.VerificationKey(SECRET.encode(), ("HS256",))
    token = jwt.encode(claims(exp=int(time.time()) - 5), SECRET, "HS256")
    with pytest.raises(InvalidToken) as refused:
        verify_token(token, key)
    assert refused.value.reason == "expired"
    assert verify_token(token, key, leeway_secs=10).username == "ada"


def test_issuer_and_audience_are_checked_when_set():
    """With an issuer and audience configured, a token must carry both, equal; without them they are not checked."""
    key = jwt_auth.VerificationKey(SECRET.encode(), ("HS256",))
    good = jwt.encode(claims(iss="auth.example", aud="notify"), SECRET, "HS256")
    assert verify_token(good, key, issuer="auth.example", audience="notify").username == "ada"
    assert verify_token(good, key).username == "ada"
    for payload in (claims(iss="evil", aud="notify"), claims(iss="auth.example", aud="other"), claims()):
        with pytest.raises(InvalidToken):
            verify_token(jwt.encode(payload, SECRET, "HS256"), key, issuer="auth.example", audience="notify")


@pytest.mark.parametrize("subject", ["", "\x00ada", "a" * 151, "\ud800"])
def test_a_subject_that_cannot_name_a_user_is_refused(subject):
    """An empty, NUL-carrying, overlong or lone-surrogate `sub` is refused before any lookup."""
    key = jwt_auth.VerificationKey(SECRET.encode(), ("HS256",))
    with pytest.raises(InvalidToken):
        verify_token(jwt.encode(claims(sub=subject), SECRET, "HS256"), key)


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "é.é.é", "x" * 9000, "..", "eyJhbGciOiJIUzI1NiJ9..."])
def test_malformed_tokens_are_refused_not_raised(token):
    """Whatever a client sends as a token is an InvalidToken, never another exception."""
    with pytest.raises(InvalidToken):
        verify_token(token, jwt_auth.VerificationKey(SECRET.encode(), ("HS256",)))


def test_a_huge_exp_is_refused():
    """An `exp` past what a date can hold is refused."""
    key = jwt_auth.VerificationKey(SECRET.encode(), ("HS256",))
    with pytest.raises(InvalidToken):
        verify_token(jwt.encode(claims(exp=10**20), SECRET, "HS256"), key)


def test_key_of_pem_refuses_what_is_no_usable_public_key(ec_key):
    """A private key, garbage, or a P-384 key is a configuration error."""
    p384 = ec.generate_private_key(ec.SECP384R1())
    for data in (b"garbage", _pem(p384)):
        with pytest.raises(JwtConfigurationError):
            key_of_pem(data)


def test_the_key_file_is_read_again_when_it_changes(tmp_path, rsa_key, ec_key):
    """The key file is cached by path and mtime: a rotated key is used without a restart."""
    path = tmp_path / "jwt.pem"
    path.write_bytes(_pem(rsa_key))
    with override_settings(NOTIFY_JWT_PUBLIC_KEY_FILE=str(path), NOTIFY_JWT_SECRET=""):
        assert jwt_auth.check_token(jwt.encode(claims(), rsa_key, "RS256")).username == "ada"
        path.write_bytes(_pem(ec_key))
        os.utime(path, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
        assert jwt_auth.check_token(jwt.encode(claims(), ec_key, "ES256")).username == "ada"
        with pytest.raises(InvalidToken):
            jwt_auth.check_token(jwt.encode(claims(), rsa_key, "RS256"))


def test_check_token_refuses_everything_when_no_key_or_both_keys_are_set(tmp_path, rsa_key):
    """No key configured: tokens are refused; both key settings: refused too (and a start-up error)."""
    token = jwt.encode(claims(), SECRET, "HS256")
    with override_settings(NOTIFY_JWT_PUBLIC_KEY_FILE="", NOTIFY_JWT_SECRET=""):
        with pytest.raises(InvalidToken):
            jwt_auth.check_token(token)
    path = tmp_path / "jwt.pem"
    path.write_bytes(_pem(rsa_key))
    with override_settings(NOTIFY_JWT_PUBLIC_KEY_FILE=str(path), NOTIFY_JWT_SECRET=SECRET):
        with pytest.raises(InvalidToken):
            jwt_auth.check_token(token)
        with pytest.raises(JwtConfigurationError):
            jwt_auth.get_verification_key()
