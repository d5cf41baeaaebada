"""Start the process's hub at its first connection (daphne speaks no ASGI lifespan)."""

import asyncio

from notifications.realtime.hub import Hub


class HubStarter:
    """ASGI middleware that starts the process's hub on the server's loop at the first connection.

    daphne speaks no ASGI lifespan, so the first request of any kind (a health
    check will do) starts the outbox sweep and the layer probe.
    """

    _asgi_single_callable = True  # an ASGI 3 application, though `__call__` is not a coroutine function

    def __init__(self, application):
        self.application = application

    def __call__(self, scope, receive, send):
        """Return the application's awaitable, so that, once the hub runs, a socket keeps no frame of this layer."""
        if scope["type"] in ("http", "websocket") and not _runs_here(Hub.running()):
            return self._start_then(scope, receive, send)
        return self.application(scope, receive, send)

    async def _start_then(self, scope, receive, send):
        await Hub.ensure_started()
        return await self.application(scope, receive, send)


def _runs_here(hub: Hub | None) -> bool:
    """Return whether `hub` is started on the running loop (what `Hub.ensure_started` would return at once)."""
    try:
        return hub is not None and hub.loop is asyncio.get_running_loop()
    except RuntimeError:  # no running loop
        return False
