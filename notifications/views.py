"""Server-rendered pages (the REST API lives in `api/`)."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from .models import TrackedRequest


@login_required
def dashboard(request):
    """Show the signed-in user's requests; `static/notify/dashboard.js` keeps them live."""
    tracked = TrackedRequest.objects.filter(owner=request.user)[:100]
    return render(request, "notifications/dashboard.html", {"requests": tracked})
