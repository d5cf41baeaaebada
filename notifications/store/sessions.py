"""Whether the session behind a socket is still alive (for closing with 4000)."""

from importlib import import_module

from django.conf import settings
from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.sessions.models import Session
from django.utils import timezone


def find_ended(pairs: set[tuple[int, str]]) -> set[tuple[int, str]]:
    """Return the (user id, session key) pairs whose user is inactive or whose session is gone."""
    user_ids = {user_id for user_id, _ in pairs}
    active = set(get_user_model().objects.filter(pk__any_of=user_ids, is_active=True).values_list("pk", flat=True))
    live_keys = _live_session_keys({key for _, key in pairs if key})
    return {(user_id, key) for user_id, key in pairs if user_id not in active or (key and key not in live_keys)}


def _live_session_keys(keys: set[str]) -> set[str]:
    if settings.SESSION_ENGINE in ("django.contrib.sessions.backends.db", "django.contrib.sessions.backends.cached_db"):
        return set(
            Session.objects.filter(session_key__any_of=keys, expire_date__gt=timezone.now()).values_list(
                "session_key", flat=True
            )
        )
    store = import_module(settings.SESSION_ENGINE).SessionStore
    return {key for key in keys if store().exists(key)}


def is_signed_in(user_id: int, session_key: str) -> bool:
    """Return whether the session still exists, unexpired, and is signed in as this user (not after logout)."""
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    return store.get(SESSION_KEY) == str(user_id)
