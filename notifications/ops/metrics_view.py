"""`GET /metrics`: this process's metrics in Prometheus text format, for operators only.

Access, checked in this order:
- NOTIFY_METRICS_PORT set: only requests that arrived on that server port
  (daphne bound to it on an internal interface as a second endpoint); 404 elsewhere.
- NOTIFY_METRICS_TOKEN set: `Authorization: Bearer <token>` is required (401).
- neither: only loopback and private client addresses (403 for others). Behind
  a proxy every client looks like the proxy, so the proxy must not forward
  /metrics (deploy/nginx.conf denies it) or a token must be set.
"""

import hmac
import ipaddress

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from notifications import conf
from notifications.ops import metrics as _metrics  # noqa: F401  (registers the metrics and the hub collector)


class MetricsRefused(Exception):
    def __init__(self, status: int, detail: str):
        self.status, self.detail = status, detail


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    try:
        check_access(request)
    except MetricsRefused as refused:
        response = HttpResponse(refused.detail + "\n", status=refused.status, content_type="text/plain")
        if refused.status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)


def check_access(request: HttpRequest) -> None:
    """Raise MetricsRefused unless this request may read the metrics."""
    port = conf.metrics_port()
    if port and str(request.META.get("SERVER_PORT")) != str(port):
        raise MetricsRefused(404, "Not found.")
    token = conf.metrics_token()
    if token:
        offered = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(offered.encode(), token.encode()):
            raise MetricsRefused(401, "A valid bearer token is required.")
        return
    if not port and not is_internal_address(request.META.get("REMOTE_ADDR", "")):
        raise MetricsRefused(403, "Metrics are served to internal addresses only; set NOTIFY_METRICS_TOKEN.")


def is_internal_address(address: str) -> bool:
    """Answer whether a client address is loopback or private (RFC 1918, ULA, link-local)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_private or ip.is_link_local
