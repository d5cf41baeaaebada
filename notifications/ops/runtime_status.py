"""The running process's realtime status, for `/readyz` and `/metrics`.

The hub sets the provider when it starts, so operations code reads the
channel layer's state without importing the runtime that owns it.
"""

from collections.abc import Callable

_provider: Callable[[], dict] | None = None


def set_provider(provider: Callable[[], dict] | None) -> None:
    """Register what answers `current()` (the hub's `status`), or None when it stops."""
    global _provider
    _provider = provider


def current() -> dict | None:
    """Return the hub's status (layer, health, sockets), or None when no hub runs in this process."""
    provider = _provider
    return None if provider is None else provider()
