"""Server-rendered pages (the REST API lives in `api/`); their scripts in `static/notify/` keep them live."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from notifications.models import TrackedRequest
from notifications.store import escalations

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


class PreferencesForm(forms.Form):
    email_when_unseen = forms.BooleanField(
        required=False,
        label="E-mail me when a request of mine finishes and no open page showed it",
    )


@login_required
def preferences(request: HttpRequest) -> HttpResponse:
    """Let the user turn the e-mail about unseen finished requests on or off."""
    if request.method == "POST":
        form = PreferencesForm(request.POST)
        if form.is_valid():
            escalations.set_email_preference(request.user.pk, form.cleaned_data["email_when_unseen"])
            messages.success(request, "Settings saved.")
            return redirect("pages:settings")
    else:
        form = PreferencesForm(initial={"email_when_unseen": escalations.wants_email(request.user.pk)})
    return render(request, "notifications/settings.html", {"form": form, "has_email": bool(request.user.email)})
