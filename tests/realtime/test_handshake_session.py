"""A handshake reads its cookie session only when it carries no ticket and no token."""

import pytest

from notifications.realtime.handshake_session import SessionUnlessCredential


def session_stack(application):
    """Stands for channels' AuthMiddlewareStack: marks the scope the way it would add `session` and `user`."""

    async def with_session(scope, receive, send):
        return await application({**scope, "session": "read", "user": "read"}, receive, send)

    return with_session


async def scope_seen(scope: dict) -> dict:
    seen = {}

    async def socket(scope, receive, send):
        seen.update(scope)

    await SessionUnlessCredential(socket, session_stack)(scope, None, None)
    return seen


@pytest.mark.parametrize(
    "query, headers",
    [(b"ticket=abc", []), (b"token=abc", []), (b"", [(b"authorization", b"Bearer abc")])],
)
async def test_a_handshake_with_a_ticket_or_token_skips_the_session(query, headers):
    """Its credential decides who it is, whatever its cookie says: the session is never read."""
    seen = await scope_seen({"type": "websocket", "query_string": query, "headers": headers})
    assert "session" not in seen and "user" not in seen


@pytest.mark.parametrize("query", [b"", b"ticket=", b"other=1"])
async def test_a_handshake_without_a_credential_goes_through_the_session(query):
    """A cookie-only socket (or a STOMP or MQTT one, whose ticket comes in its first frame) reads its session."""
    seen = await scope_seen({"type": "websocket", "query_string": query, "headers": [(b"cookie", b"sessionid=x")]})
    assert seen["session"] == "read" and seen["user"] == "read"
