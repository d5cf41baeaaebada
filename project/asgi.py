"""ASGI entry point: `daphne project.asgi:application`.

HTTP goes to Django, but `/api/v1/stream/` (Server-Sent Events) goes through
session authentication to the event stream; `/ws/notifications/` goes through
the Origin check and, for a handshake without a ticket or token, session
authentication to the notification consumer.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

from project.http import get_http_application  # noqa: E402

django_asgi_app = get_http_application()

from notifications.checks import check_startup  # noqa: E402

check_startup()  # a configuration error stops daphne here, before it serves anything

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs the apps loaded)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from notifications.realtime.adapters.sse import EventStreamApp, EventStreamRoute  # noqa: E402
from notifications.realtime.admission import Admission  # noqa: E402
from notifications.realtime.handshake_session import SessionUnlessCredential  # noqa: E402
from notifications.realtime.hub_starter import HubStarter  # noqa: E402
from notifications.realtime.origins import OriginValidator  # noqa: E402
from notifications.realtime.routing import websocket_urlpatterns  # noqa: E402
from notifications.realtime.sockjs.http import with_sockjs  # noqa: E402

# One connect budget for the instance, spent before authentication (the costly part of a connect).
admission = Admission()

application = HubStarter(
    ProtocolTypeRouter(
        {
            "http": with_sockjs(
                EventStreamRoute(django_asgi_app, admission.gate(AuthMiddlewareStack(EventStreamApp())))
            ),
            "websocket": OriginValidator(
                admission.gate(SessionUnlessCredential(URLRouter(websocket_urlpatterns), AuthMiddlewareStack))
            ),
        }
    )
)
