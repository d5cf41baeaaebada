"""The service's settings with their defaults, in one place, read when used."""

from django.conf import settings


def _get(name: str, default):
    return getattr(settings, name, default)


def heartbeat_secs() -> int:
    return _get("NOTIFY_HEARTBEAT_SECS", 25)


def max_frame_bytes() -> int:
    return _get("NOTIFY_MAX_FRAME_BYTES", 64 * 1024)


def frames_per_second() -> float:
    return _get("NOTIFY_FRAMES_PER_SECOND", 20.0)


def frame_burst() -> int:
    return _get("NOTIFY_FRAME_BURST", 40)


def refusals_before_close() -> int:
    return _get("NOTIFY_REFUSALS_BEFORE_CLOSE", 20)


def resume_grace_secs() -> float:
    """How long live events wait after `welcome` for a first `resume` (so they follow the replay)."""
    return _get("NOTIFY_RESUME_GRACE_SECS", 1.0)


def history_days() -> int:
    return _get("NOTIFY_HISTORY_DAYS", 7)
