"""Run one of this service's own /api/v1/ views in process, as the socket's user (PROTOCOL section 5.1).

The view gets a Django request built here, never parsed from the network:
its user is an attribute only this module sets (`GATEWAY_USER_ATTRIBUTE`),
read by `api.authentication.GatewayUserAuthentication`, so a header can never
claim it. The view's own permission classes decide as over HTTP; CSRF does
not apply (the socket's Origin was checked at the handshake). It runs on
Django's sync thread through `database_sync_to_async`, which closes stale
database connections around it, as every other query of the runtime does.
"""

import io

from channels.db import database_sync_to_async
from django.core.exceptions import SuspiciousOperation
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpResponse, JsonResponse
from django.urls import Resolver404, resolve
from django.utils import translation

from notifications.protocol.gateway import GatewayRequest

GATEWAY_USER_ATTRIBUTE = "notify_gateway_user"
API_NAMESPACE = "api"


def build_request(request: GatewayRequest, user, scope: dict) -> WSGIRequest:
    """Return the Django request a view sees: the socket's host and scheme, the frame's method, path and body."""
    path, _, query = request.path.partition("?")
    content = request.content
    host = host_of(scope)
    environ = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "HTTP_HOST": host,
        "SERVER_NAME": host.rsplit(":", 1)[0],
        "SERVER_PORT": "443" if scope.get("scheme") == "wss" else "80",
        "wsgi.url_scheme": "https" if scope.get("scheme") == "wss" else "http",
        "wsgi.input": io.BytesIO(content),
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(content)),
        "HTTP_ACCEPT": "application/json",
    }
    for name, value in request.headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    django_request = WSGIRequest(environ)
    setattr(django_request, GATEWAY_USER_ATTRIBUTE, user)
    return django_request


def host_of(scope: dict) -> str:
    """Return the Host the socket was opened with (so links in answers point where the client connected)."""
    host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
    if host:
        return host
    server_host, server_port = scope.get("server") or ("localhost", 80)
    return f"{server_host}:{server_port}"


def run_view(django_request: WSGIRequest) -> HttpResponse:
    """Return the rendered answer of the API view the request's path resolves to (404 when none does)."""
    try:
        match = resolve(django_request.path_info)
    except Resolver404:
        match = None
    if match is None or match.namespace != API_NAMESPACE:
        return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)
    language = translation.get_language_from_request(django_request)
    try:
        with translation.override(language):
            response = match.func(django_request, *match.args, **match.kwargs)
            if hasattr(response, "render"):
                response.render()
    except SuspiciousOperation:  # a Host outside ALLOWED_HOSTS, say: 400, as Django answers it over HTTP
        return JsonResponse({"detail": "Bad request.", "code": "bad_request"}, status=400)
    return response


async def call_view(request: GatewayRequest, user, scope: dict) -> HttpResponse:
    """Run the request's view on the sync thread and return its rendered response."""
    return await database_sync_to_async(_call)(request, user, scope)


def _call(request: GatewayRequest, user, scope: dict) -> HttpResponse:
    return run_view(build_request(request, user, scope))
