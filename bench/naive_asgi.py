"""The naive forwarder most Channels tutorials build, as a baseline: join a group, relay its messages.

`POST /publish` (body: the text to relay) group_sends to everyone on the layer.
"""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.naive_settings")
django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.layers import get_channel_layer  # noqa: E402
from channels.routing import ProtocolTypeRouter  # noqa: E402

GROUP = "naive.everyone"


class NaiveForwarder(AsyncWebsocketConsumer):
    async def connect(self):
        await self.channel_layer.group_add(GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard(GROUP, self.channel_name)

    async def relay(self, message):
        await self.send(text_data=message["text"])


async def publish(scope, receive, send):
    """Relay the request body to every socket; 200 on /healthz."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["path"] == "/publish":
        await get_channel_layer().group_send(GROUP, {"type": "relay", "text": body.decode()})
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


application = ProtocolTypeRouter({"http": publish, "websocket": NaiveForwarder.as_asgi()})
