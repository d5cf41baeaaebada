"""Helpers for tests that open sockets with channels' WebsocketCommunicator."""

from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import Client

from notifications.store import actions
from project.asgi import application

ORIGIN = b"http://testserver"


@database_sync_to_async
def make_user(username: str, **extra):
    return get_user_model().objects.create_user(username, password="pw-" + username, **extra)


@database_sync_to_async
def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


async def open_socket(cookie: str | None = None, origin: bytes = ORIGIN, path: str = "/ws/notifications/", **kw):
    headers = [(b"host", b"testserver")]
    if origin:
        headers.append((b"origin", origin))
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    communicator = WebsocketCommunicator(application, path, headers=headers, **kw)
    connected, detail = await communicator.connect(timeout=5)
    return communicator, connected, detail


async def signed_in_socket(user, resume: str | None = None):
    communicator, connected, _ = await open_socket(await session_cookie(user))
    assert connected
    welcome = await communicator.receive_json_from(timeout=5)
    assert welcome["type"] == "welcome"
    if resume is not None:
        await communicator.send_json_to({"type": "resume", "cursor": resume})
    return communicator, welcome


async def live_socket(user):
    """Return a signed-in socket that has resumed from its welcome cursor: live events come next."""
    communicator, welcome = await signed_in_socket(user, resume=None)
    await communicator.send_json_to({"type": "resume", "cursor": welcome["cursor"]})
    await receive_until(communicator, "replayed")
    return communicator


async def receive_until(communicator, frame_type: str, timeout: float = 5):
    """Return the frames up to and including the first of `frame_type`."""
    seen = []
    while True:
        frame = await communicator.receive_json_from(timeout=timeout)
        seen.append(frame)
        if frame["type"] == frame_type:
            return seen


async def publish(user, title="Report", status="processing", progress=40, message="working"):
    tracked, _ = await database_sync_to_async(actions.do_create_request)(user, title)
    event = await database_sync_to_async(actions.do_publish_status)(tracked.id, status, progress, message)
    return tracked, event


async def actions_broadcast(title: str, body: str = "", level: str = "info"):
    return await database_sync_to_async(actions.do_broadcast)(title, body, level)


def session_expiring_in(user, seconds: int) -> str:
    client = Client()
    client.force_login(user)
    session = client.session
    session.set_expiry(seconds)
    session.save()
    return session.session_key
