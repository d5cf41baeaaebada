"""The HTTP side of the ASGI application: Django's handler, with one thread hop per request.

Every middleware and view of this project is synchronous. Django's async
handler calls each synchronous middleware hook through its own hop to a worker
thread and back (about fifteen per request here), which made thread hand-offs
the largest cost of `POST /api/v1/events/` in profiles (docs/benchmarks.md).
This handler runs the whole synchronous chain once, in the request's thread.
"""

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler


class SyncChainASGIHandler(ASGIHandler):
    """Run the middleware chain and the view synchronously, in one hop to the request's thread."""

    def __init__(self):
        # ASGIHandler's own __init__ would load the async chain too, only to replace it.
        BaseHandler.__init__(self)
        self.load_middleware(is_async=False)

    async def get_response_async(self, request):
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)


def get_http_application() -> SyncChainASGIHandler:
    """Return the ASGI application for HTTP (Django must be set up first, as in get_asgi_application)."""
    import django

    django.setup(set_prefix=False)
    return SyncChainASGIHandler()
