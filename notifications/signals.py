"""Receivers of Django's auth signals that end a user's sockets."""

from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver

from notifications.store.actions import do_end_sessions


@receiver(user_logged_out)
def close_sockets_of_ended_session(sender, request, user, **kwargs) -> None:
    """Close, on every instance, the sockets opened with the session that just logged out."""
    if user is not None:
        do_end_sessions(user.pk, session_key=request.session.session_key)
