"""The WebSocket consumers, by endpoint: each is a protocol adapter over `session.Session`.

`/ws/notifications/` speaks PROTOCOL section 1's JSON frames
(`adapters/json_socket.py`). Other protocols go beside it as adapters over
the same session core, never as copies of this consumer.
"""

from notifications.realtime.adapters.json_socket import JsonSocketConsumer

NotificationConsumer = JsonSocketConsumer

__all__ = ["NotificationConsumer", "JsonSocketConsumer"]
