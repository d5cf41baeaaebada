"""E-mail the owner of a finished request that no open page showed in time (every instance runs it).

The schedule and its claims live in `store/escalations.py`; this loop claims
what is due, sends the mail through Django's mail framework (EMAIL_URL) and
records the outcome, which also plans the `request.unseen` webhook of each
publishing service that has one (sent by the webhook sender, retried). A
mail that cannot be sent is recorded as such, never retried in a loop: the
user still has the page and the history.
"""

import asyncio
import logging
import smtplib

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse

from notifications import conf
from notifications.ops import metrics
from notifications.store import escalations

logger = logging.getLogger(__name__)

POLL_SECS = 2.0
STATUS_WORDS = {"succeeded": "succeeded", "failed": "failed", "cancelled": "was cancelled"}


class Escalator:
    """Claim due escalations and settle each: one e-mail, or the reason there was none."""

    async def run_forever(self) -> None:
        self._say_where_mail_goes()
        while True:
            try:
                for item in await database_sync_to_async(escalations.claim_due)():
                    await database_sync_to_async(escalate_guarded)(item)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("unseen escalation round failed; the next round retries")
            await asyncio.sleep(POLL_SECS)

    def _say_where_mail_goes(self) -> None:
        backend = settings.EMAIL_BACKEND.rsplit(".", 2)[-2]
        if conf.unseen_after_secs() <= 0:
            logger.info("unseen escalation: off (NOTIFY_UNSEEN_AFTER_SECS is 0)")
        elif backend in ("console", "filebased", "locmem", "dummy"):
            logger.info("unseen escalation: e-mails go to the %s backend; set EMAIL_URL to send them", backend)


def escalate_guarded(item) -> None:
    """Escalate one claimed row; an unexpected error settles it as failed, so it is never retried in a loop."""
    try:
        escalate(item)
    except Exception as exc:
        logger.exception("unseen escalation failed", extra={"request_id": str(item.request_id)})
        escalations.settle(item, [], f"failed: {type(exc).__name__}")


def escalate(item) -> None:
    """Send the owner one e-mail about a claimed escalation, unless there is nobody to tell; record the outcome."""
    if not escalations.holds(item):
        return  # settled, or its lease passed to another instance
    user = get_user_model().objects.filter(pk=item.user_id, is_active=True).first()
    if user is None or not user.email:
        outcome, via = "no e-mail address", []
    elif not escalations.wants_email(user.pk):
        outcome, via = "e-mail turned off by the user", []
    else:
        outcome, via = _send(user, item.request)
    settled_via = escalations.settle(item, via, outcome)
    if settled_via is not None:
        for channel in settled_via or ["none"]:
            metrics.ESCALATIONS.labels(outcome=channel).inc()
        logger.info(
            "unseen request escalated: %s",
            outcome,
            extra={
                "event": "escalation.settled",
                "request_id": str(item.request_id),
                "user_id": item.user_id,
                "via": ",".join(settled_via) or "none",
            },
        )


def _send(user, tracked) -> tuple[str, list[str]]:
    context = {
        "user": user,
        "request": tracked,
        "outcome": STATUS_WORDS.get(tracked.status, tracked.status),
        "link": conf.public_url() + reverse("pages:request-detail", args=[tracked.pk]),
        "settings_link": conf.public_url() + reverse("pages:settings"),
    }
    # One line: a title may hold line breaks, which a mail header must not.
    subject = " ".join(f"{tracked.title} {context['outcome']}".split())
    try:
        send_mail(subject, render_to_string("notifications/email/unseen.txt", context), None, [user.email])
    except (smtplib.SMTPException, OSError) as exc:  # refused, unreachable: recorded on the row, not retried
        return f"e-mail failed: {type(exc).__name__}", []
    return "e-mail sent", ["email"]
