"""The SockJS endpoints and the protocol each carries: `/sockjs/notifications/` JSON, `/sockjs/stomp/` STOMP."""

from dataclasses import dataclass
from functools import cache

from django.utils.module_loading import import_string

from notifications.realtime.sockjs.bridge import over_sockjs


@dataclass(frozen=True)
class Endpoint:
    """One SockJS endpoint: its URL segment, the socket adapter behind it, and its connections' protocol name."""

    name: str
    adapter: str  # dotted path of the socket consumer class whose frames the endpoint carries
    protocol: str

    @property
    def consumer_class(self) -> type:
        return import_string(self.adapter)

    @property
    def bridged(self) -> type:
        return _bridged(self.adapter, self.protocol)


@cache
def _bridged(adapter: str, protocol: str) -> type:
    return over_sockjs(import_string(adapter), protocol)


ENDPOINTS = {
    "notifications": Endpoint(
        "notifications", "notifications.realtime.adapters.json_socket.JsonSocketConsumer", "sockjs-json"
    ),
    "stomp": Endpoint("stomp", "notifications.realtime.adapters.stomp_socket.StompSocketConsumer", "sockjs-stomp"),
}


def available(name: str) -> Endpoint | None:
    """Return the endpoint of a URL segment if its adapter is installed, else None (the URL answers 404)."""
    endpoint = ENDPOINTS.get(name)
    if endpoint is None:
        return None
    try:
        import_string(endpoint.adapter)
    except ImportError:
        return None
    return endpoint
