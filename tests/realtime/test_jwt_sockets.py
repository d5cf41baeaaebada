"""JWT sockets (PROTOCOL section 5.4) through channels' communicator: connect, refresh, expiry, the start-up check."""

import logging
import time

import jwt
import pytest
from channels.testing import WebsocketCommunicator
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from notifications.checks import check_startup
from notifications.ops.logfmt import KeyValueFormatter, RedactSecrets, redact
from project.asgi import application
from tests.sockets import make_user, open_socket, receive_until, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "unit-test-secret-of-more-than-thirty-two-bytes"
JWT_SETTINGS = {"NOTIFY_JWT_SECRET": SECRET, "NOTIFY_JWT_PUBLIC_KEY_FILE": "", "NOTIFY_JWT_LEEWAY_SECS": 0}


def token_for(username: str, exp_in: float = 60, secret: str = SECRET, **extra) -> str:
    return jwt.encode({"sub": username, "exp": int(time.time() + exp_in), **extra}, secret, "HS256")


async def token_socket(token: str):
    """Open a socket with `?token=` and no Origin or cookie, as a script would."""
    return await open_socket(origin=None, path=f"/ws/notifications/?token={token}")


@pytest.fixture(autouse=True)
def jwt_settings():
    with override_settings(**JWT_SETTINGS):
        yield


async def test_a_valid_token_authenticates_its_user(hub):
    """`?token=` with a valid JWT opens the socket as the user named by `sub`."""
    user = await make_user("ada")
    communicator, connected, _ = await token_socket(token_for("ada"))
    assert connected
    welcome = await communicator.receive_json_from(timeout=5)
    assert welcome["user"] == {"id": user.pk, "username": "ada"}
    await communicator.disconnect()


async def test_a_bearer_header_authenticates_too(hub):
    """`Authorization: Bearer <jwt>` is the same as `?token=`."""
    await make_user("ada")
    headers = [(b"host", b"testserver"), (b"authorization", b"Bearer " + token_for("ada").encode())]
    communicator = WebsocketCommunicator(application, "/ws/notifications/", headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    assert (await communicator.receive_json_from(timeout=5))["type"] == "welcome"
    await communicator.disconnect()


@pytest.mark.parametrize(
    "make_token",
    [
        lambda: token_for("ada", secret="another-secret-of-more-than-thirty-two-bytes"),
        lambda: jwt.encode({"sub": "ada"}, SECRET, "HS256"),
        lambda: token_for("ada", exp_in=-1),
        lambda: token_for("nobody"),
        lambda: token_for("eve"),
    ],
    ids=["bad-signature", "no-exp", "expired", "unknown-user", "inactive-user"],
)
async def test_a_bad_token_closes_with_4401(hub, make_token):
    """A bad signature, no `exp`, an expired token, an unknown or inactive user: accepted, then closed 4401."""
    await make_user("ada")
    await make_user("eve", is_active=False)
    communicator, connected, _ = await token_socket(make_token())
    assert connected
    assert (await communicator.receive_output(timeout=5)) == {"type": "websocket.close", "code": 4401}


async def test_the_socket_closes_with_4000_at_exp(hub):
    """At the token's `exp` the socket closes with 4000, as at a session's end."""
    await make_user("ada")
    communicator, _, _ = await token_socket(token_for("ada", exp_in=1.5))
    await receive_until(communicator, "welcome")
    started = time.monotonic()
    assert (await communicator.receive_output(timeout=5)) == {"type": "websocket.close", "code": 4000}
    assert time.monotonic() - started > 0.4


async def test_refresh_moves_the_expiry_and_answers_refreshed(hub):
    """A `refresh` with a later token answers `refreshed` with its exp; the first exp passes without a close."""
    await make_user("ada")
    communicator, _, _ = await token_socket(token_for("ada", exp_in=1.5))
    await receive_until(communicator, "welcome")
    later = int(time.time()) + 60
    new_token = jwt.encode({"sub": "ada", "exp": later}, SECRET, "HS256")
    await communicator.send_json_to({"type": "refresh", "token": new_token, "ref": "r1"})
    assert await communicator.receive_json_from(timeout=5) == {"type": "refreshed", "exp": later, "ref": "r1"}
    assert await communicator.receive_nothing(timeout=2.5)
    await communicator.disconnect()


@pytest.mark.parametrize("username,secret", [("bob", SECRET), ("ada", "a-wrong-secret-of-more-than-thirty-two-bytes")])
async def test_a_refresh_for_another_user_or_badly_signed_closes_with_4401(hub, username, secret):
    """A refresh naming another user, or with a bad signature, closes the socket with 4401."""
    await make_user("ada")
    await make_user("bob")
    communicator, _, _ = await token_socket(token_for("ada"))
    await receive_until(communicator, "welcome")
    await communicator.send_json_to({"type": "refresh", "token": token_for(username, 120, secret)})
    assert (await communicator.receive_output(timeout=5)) == {"type": "websocket.close", "code": 4401}


async def test_a_refresh_that_does_not_expire_later_or_is_no_string_is_an_error_frame(hub):
    """An earlier `exp` or a non-string token is answered with `error` `bad_request`; the socket stays."""
    await make_user("ada")
    communicator, _, _ = await token_socket(token_for("ada", exp_in=60))
    await receive_until(communicator, "welcome")
    for token in (token_for("ada", exp_in=30), 42, "x" * 9000):
        await communicator.send_json_to({"type": "refresh", "token": token, "ref": "r"})
        frame = await communicator.receive_json_from(timeout=5)
        assert (frame["type"], frame["code"], frame["ref"]) == ("error", "bad_request", "r")
    await communicator.send_json_to({"type": "ping", "ts": 1})
    assert (await communicator.receive_json_from(timeout=5))["type"] == "pong"
    await communicator.disconnect()


async def test_a_cookie_socket_cannot_refresh(hub):
    """A socket signed in with its session cookie gets `error` for a `refresh`; its session decides its end."""
    user = await make_user("ada")
    communicator, connected, _ = await open_socket(await session_cookie(user))
    await receive_until(communicator, "welcome")
    await communicator.send_json_to({"type": "refresh", "token": token_for("ada")})
    frame = await communicator.receive_json_from(timeout=5)
    assert (frame["type"], frame["code"]) == ("error", "bad_request")
    await communicator.disconnect()


async def test_a_ticket_wins_over_a_token(hub):
    """With `?ticket=` and `?token=`, the ticket decides: a bad ticket is 4401 even beside a good token."""
    await make_user("ada")
    communicator, _, _ = await open_socket(origin=None, path=f"/ws/notifications/?ticket=nope&token={token_for('ada')}")
    assert (await communicator.receive_output(timeout=5)) == {"type": "websocket.close", "code": 4401}


def test_both_key_settings_fail_manage_py_check_and_the_start(tmp_path):
    """Both NOTIFY_JWT_PUBLIC_KEY_FILE and NOTIFY_JWT_SECRET: `check` reports notifications.E001, the start raises."""
    with override_settings(NOTIFY_JWT_PUBLIC_KEY_FILE=str(tmp_path / "key.pem"), NOTIFY_JWT_SECRET=SECRET):
        with pytest.raises(SystemCheckError, match="notifications.E001"):
            call_command("check")
        with pytest.raises(Exception, match="not both"):
            check_startup()


def test_an_unreadable_key_file_fails_the_start(tmp_path):
    """A key file that is missing or holds no public key is a start-up error."""
    (tmp_path / "bad.pem").write_text("not a key")
    for path in (tmp_path / "missing.pem", tmp_path / "bad.pem"):
        with override_settings(NOTIFY_JWT_PUBLIC_KEY_FILE=str(path), NOTIFY_JWT_SECRET=""):
            with pytest.raises(Exception, match="notifications.E001"):
                check_startup()


def test_a_short_secret_is_a_warning_only():
    """An HS256 secret under 32 bytes warns (notifications.W001) but starts."""
    with override_settings(NOTIFY_JWT_SECRET="short", NOTIFY_JWT_PUBLIC_KEY_FILE=""):
        check_startup()
        call_command("check")


def test_tokens_are_redacted_from_logs():
    """A JWT in a query string, a Bearer header or a refresh frame never reaches a log line."""
    token = token_for("ada")
    lines = [
        f"GET /ws/notifications/?token={token} 101",
        f"GET /mqtt?x=1&token={token}",
        f"Authorization: Bearer {token}",
        f'{{"type": "refresh", "token": "{token}"}}',
    ]
    for line in lines:
        cleaned = redact(line)
        assert not any(part in cleaned for part in token.split(".")), cleaned
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "socket from %s", (lines[0],), None)
    assert RedactSecrets().filter(record)
    assert token.split(".")[2] not in KeyValueFormatter().format(record)
