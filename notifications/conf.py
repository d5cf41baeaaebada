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


def presence_timeout_secs() -> float:
    """How long a connection counts as online after its instance's last heartbeat (a killed instance's rows expire)."""
    return _get("NOTIFY_PRESENCE_TIMEOUT_SECS", 60)


def presence_heartbeat_secs() -> float:
    """How often an instance refreshes its connections' rows: often enough that a live one never looks stale."""
    return max(0.25, min(5.0, presence_timeout_secs() / 4))


def shutdown_grace_secs() -> float:
    """How long SIGTERM waits for sockets to close with 1001 before letting daphne stop anyway."""
    return _get("NOTIFY_SHUTDOWN_GRACE_SECS", 5.0)


def metrics_token() -> str:
    """The bearer token /metrics requires; empty means loopback and private addresses only."""
    return _get("NOTIFY_METRICS_TOKEN", "")


def metrics_port() -> int | None:
    """When set, /metrics answers only on this server port (bind daphne to it on an internal interface)."""
    return _get("NOTIFY_METRICS_PORT", None)


def idempotency_days() -> int:
    """How long a publish's Idempotency-Key answer is kept for retries."""
    return _get("NOTIFY_IDEMPOTENCY_DAYS", 2)


def max_socket_buffer_bytes() -> int:
    """How much unsent data daphne may hold for one socket before dropping it (a client that stopped reading)."""
    return _get("NOTIFY_MAX_SOCKET_BUFFER_BYTES", 1024 * 1024)


def gc_threshold() -> int:
    """Allocations between young collections once serving (see gcpauses.py); 0 keeps Python's defaults."""
    return _get("NOTIFY_GC_THRESHOLD", 50_000)
