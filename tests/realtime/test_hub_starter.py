"""The first connection starts the hub; once it runs, connections go straight to the application."""

import asyncio
from types import SimpleNamespace

from notifications.realtime import hub_starter
from notifications.realtime.hub import Hub


async def app(scope, receive, send):
    return scope["type"]


async def test_the_first_connection_waits_for_the_hub_to_start(monkeypatch):
    """Before a hub runs on this loop, a request or socket is served once `ensure_started` returned."""
    started = []

    async def ensure_started():
        started.append(True)

    monkeypatch.setattr(Hub, "running", classmethod(lambda cls: None))
    monkeypatch.setattr(Hub, "ensure_started", ensure_started)
    assert await hub_starter.HubStarter(app)({"type": "websocket"}, None, None) == "websocket"
    assert started == [True]


async def test_with_the_hub_running_the_application_is_handed_on_unawaited(monkeypatch):
    """The application's own awaitable comes back: no frame of the starter stays with an open socket."""
    running = SimpleNamespace(loop=asyncio.get_running_loop())
    monkeypatch.setattr(Hub, "running", classmethod(lambda cls: running))
    handed = hub_starter.HubStarter(app)({"type": "http"}, None, None)
    assert handed.cr_code is app.__code__
    assert await handed == "http"


async def test_lifespan_and_other_scopes_never_start_the_hub(monkeypatch):
    """Only HTTP and WebSocket connections start it."""
    monkeypatch.setattr(Hub, "running", classmethod(lambda cls: None))
    assert await hub_starter.HubStarter(app)({"type": "lifespan"}, None, None) == "lifespan"
