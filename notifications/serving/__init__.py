"""Our patches to the server libraries (daphne, autobahn, Twisted, carehare) and the interpreter's tuning for serving.

Every patch is installed here, in one place, when the hub starts on the
server's loop; each is idempotent and leaves the library alone when it is
not the server (a test's in-process communicator). The signatures each one
wraps are pinned by tests/serving/test_patched_signatures.py, so an upgrade
that moves them fails there instead of in production.
"""

from notifications.serving import amqpframes, backpressure, closecodes, gcpauses, inputqueues, lazylogs


def install() -> None:
    """Install every patch and tune the garbage collector (idempotent)."""
    backpressure.bound_daphne_send_buffers()
    inputqueues.use_small_input_queues()
    closecodes.allow_server_close_codes()
    lazylogs.defer_autobahn_debug_formatting()
    amqpframes.dispatch_frames_directly()
    amqpframes.decode_deliveries_directly()
    gcpauses.tune_for_serving()
