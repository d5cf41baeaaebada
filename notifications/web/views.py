"""Server-rendered pages (the REST API lives in `api/`); their scripts in `static/notify/` keep them live."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from notifications.models import TrackedRequest

DASHBOARD_ROWS = 100


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """Show the signed-in user's newest requests; `static/notify/dashboard.js` keeps them live."""
    tracked = TrackedRequest.objects.filter(owner=request.user)[:DASHBOARD_ROWS]
    return render(request, "notifications/dashboard.html", {"requests": tracked})


@login_required
def request_detail(request: HttpRequest, pk) -> HttpResponse:
    """Show one of the user's own requests with its event history; another user's answers 404."""
    tracked = get_object_or_404(TrackedRequest, pk=pk, owner=request.user)
    history = tracked.events.order_by("position")
    return render(request, "notifications/request_detail.html", {"tracked": tracked, "history": history})
