"""The JWT upstream calls carry: claims, algorithm by key type, and the key file read when used."""

import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from notifications.realtime.gateway import signing


def pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.mark.parametrize(
    ("make_key", "algorithm"),
    [
        (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256"),
        (lambda: ec.generate_private_key(ec.SECP256R1()), "ES256"),
    ],
)
def test_the_token_verifies_with_the_public_key_and_names_user_and_service(make_key, algorithm):
    """iss notify, sub the username, aud the service, exp 60 s after iat; the key type picks the algorithm."""
    key = make_key()
    token = signing.sign(key, "ada", "billing", now=time.time())
    assert jwt.get_unverified_header(token)["alg"] == algorithm
    claims = jwt.decode(token, key.public_key(), algorithms=[algorithm], audience="billing", issuer="notify")
    assert claims["sub"] == "ada" and claims["exp"] - claims["iat"] == 60
    assert abs(claims["iat"] - time.time()) < 5


def test_other_key_types_are_refused():
    """Ed25519 and other curves are not keys the contract names."""
    for key in (ed25519.Ed25519PrivateKey.generate(), ec.generate_private_key(ec.SECP384R1())):
        with pytest.raises(signing.SigningKeyError):
            signing.load_key(pem(key))
    with pytest.raises(signing.SigningKeyError):
        signing.load_key(b"not a key")


def test_the_key_file_is_read_when_used_and_again_when_it_changes(tmp_path, settings):
    """Unset or missing is a SigningKeyError; a rotated file is read again."""
    settings.NOTIFY_GATEWAY_PRIVATE_KEY_FILE = ""
    with pytest.raises(signing.SigningKeyError):
        signing.get_signing_key()
    path = tmp_path / "gateway.pem"
    settings.NOTIFY_GATEWAY_PRIVATE_KEY_FILE = str(path)
    with pytest.raises(signing.SigningKeyError):
        signing.get_signing_key()
    first, second = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(pem(first))
    assert signing.get_signing_key().private_numbers() == first.private_numbers()
    path.write_bytes(pem(second) + b"\n")
    assert signing.get_signing_key().private_numbers() == second.private_numbers()
