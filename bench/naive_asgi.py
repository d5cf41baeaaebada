"""The naive forwarder most Channels tutorials build, as a baseline: join groups, relay their messages.

A socket at `/ws/?group=G` joins the everyone group and G. `POST /publish?group=G`
(body: the text to relay) group_sends to G, or to everyone without `group`.
"""

import os
from urllib.parse import parse_qs

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.naive_settings")
django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.layers import get_channel_layer  # noqa: E402
from channels.routing import ProtocolTypeRouter  # noqa: E402

EVERYONE = "naive.everyone"


def group_of(scope) -> str | None:
    return parse_qs(scope["query_string"].decode()).get("group", [None])[0]


class NaiveForwarder(AsyncWebsocketConsumer):
    async def connect(self):
        self.groups = [EVERYONE] + ([group_of(self.scope)] if group_of(self.scope) else [])
        for group in self.groups:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        for group in self.groups:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def relay(self, message):
        await self.send(text_data=message["text"])


async def publish(scope, receive, send):
    """Relay the request body to the group's sockets; 200 on /healthz."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["path"] == "/publish":
        group = group_of(scope) or EVERYONE
        await get_channel_layer().group_send(group, {"type": "relay", "text": body.decode()})
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


application = ProtocolTypeRouter({"http": publish, "websocket": NaiveForwarder.as_asgi()})
