"""Graceful stop on SIGTERM: close every socket with 1001 and delete this instance's presence rows first.

daphne lets Twisted handle SIGTERM: the reactor stops, daphne cancels every
application coroutine, and the TCP connections are dropped without a close
frame, so clients see 1006 and this instance's presence rows stay until
they expire. We put our handler in front of Twisted's: it asks the hub to
drain (close sockets with 1001, "going away", so clients reconnect to another
instance at once; delete the rows), then calls Twisted's handler, which stops
daphne as before. A second SIGTERM, or a drain that outlives
NOTIFY_SHUTDOWN_GRACE_SECS, stops at once.

autobahn (under daphne) refuses to let an application send close code 1001
("must be 1000 or from [3000, 4999]"), although RFC 6455 defines it for
exactly this: a server going away; `serving.closecodes` lets it through.
"""

import asyncio
import contextvars
import logging
import os
import signal
import sys
import threading

from notifications import conf
from notifications.serving import closecodes

logger = logging.getLogger(__name__)

CLOSE_GOING_AWAY = 1001


def install_sigterm_handler(hub) -> bool:
    """Chain our SIGTERM handler in front of daphne's; return False where there is no daphne to chain to.

    Only under a running Twisted reactor in the main thread (a daphne
    process): tests and management commands keep their own signal handling.
    """
    reactor = sys.modules.get("twisted.internet.reactor")
    if reactor is None or not getattr(reactor, "running", False):
        return False
    if threading.current_thread() is not threading.main_thread():
        return False
    closecodes.allow_server_close_codes()
    previous = signal.getsignal(signal.SIGTERM)
    draining: list[asyncio.Task] = []

    def on_sigterm(signum, frame) -> None:
        if draining:  # a second SIGTERM: stop now
            _chain(previous, signum, frame)
            return
        logger.info("SIGTERM: closing sockets with 1001 before stopping", extra={"event": "shutdown.start"})
        # A fresh context: the signal may interrupt code inside a thread hop, whose context (asgiref's
        # executor of the moment) would make the drain's own hops refuse to run ("would deadlock").
        drain = _drain_then_stop(hub, previous, signum)
        draining.append(hub.loop.create_task(drain, context=contextvars.Context()))

    signal.signal(signal.SIGTERM, on_sigterm)
    return True


async def _drain_then_stop(hub, previous, signum: int) -> None:
    try:
        await asyncio.wait_for(hub.drain(), conf.shutdown_grace_secs())
    except TimeoutError:
        logger.warning("SIGTERM: sockets still open after the grace period; stopping anyway")
    except Exception:  # the process is stopping whatever happened; say why the drain failed
        logger.exception("SIGTERM: draining failed; stopping anyway")
    finally:
        _chain(previous, signum, None)


def _chain(previous, signum: int, frame) -> None:
    """Hand the signal to the handler that was there before ours (Twisted's: stop the reactor)."""
    if callable(previous):
        previous(signum, frame)
    elif previous != signal.SIG_IGN:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
