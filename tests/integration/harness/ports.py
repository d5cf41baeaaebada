"""Free TCP ports on the loopback interface.

Parallel test workers (pytest-xdist) each draw from a range of their own,
below the kernel's ephemeral range, so two workers never hand out the same
port between the check and the server binding it.
"""

import os
import random
import socket

WORKER_RANGE_START = 20_000
WORKER_RANGE_SIZE = 2_000
_handed_out: set[int] = set()


def free_port() -> int:
    """Return a TCP port nobody listens on right now (another process may still take it)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw") or not worker[2:].isdigit():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]
    return _free_port_in(WORKER_RANGE_START + int(worker[2:]) * WORKER_RANGE_SIZE)


def _free_port_in(low: int) -> int:
    """Return a bindable port of the range not handed out yet (once all were, any bindable one)."""
    for skip_handed_out in (True, False):
        offset = random.randrange(WORKER_RANGE_SIZE)
        for step in range(WORKER_RANGE_SIZE):
            port = low + (offset + step) % WORKER_RANGE_SIZE
            if not (skip_handed_out and port in _handed_out) and _bindable(port):
                _handed_out.add(port)
                return port
    raise RuntimeError(f"no free port in {low}-{low + WORKER_RANGE_SIZE - 1}")


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
