from django.urls import path

from notifications.realtime.adapters.mqtt_socket import MqttSocketConsumer
from notifications.realtime.adapters.stomp_socket import StompSocketConsumer, offers_stomp
from notifications.realtime.consumers import NotificationConsumer
from notifications.realtime.sockjs.websocket import websocket_urlpatterns as sockjs_websocket_urlpatterns

_json_socket = NotificationConsumer.as_asgi()
_stomp_socket = StompSocketConsumer.as_asgi()


def notifications_socket(scope, receive, send):
    """Serve `/ws/notifications/` in STOMP when the client offers a STOMP subprotocol, else in JSON.

    It returns the consumer's awaitable, so an open socket keeps no frame of this function.
    """
    app = _stomp_socket if offers_stomp(scope) else _json_socket
    return app(scope, receive, send)


websocket_urlpatterns = [
    path("ws/notifications/", notifications_socket),
    path("ws/stomp/", _stomp_socket),
    path("mqtt", MqttSocketConsumer.as_asgi()),
    *sockjs_websocket_urlpatterns(),
]
