"""Hand what a transaction stored to this process's fan-out, once it commits.

Actions call these inside their transaction. The fan-out (the hub of a
serving process, `realtime/fanout.py`) registers itself as the sink when it
starts; a process without one (a management command, a worker) hands nothing
over, and a serving instance's outbox sweep sends its events within a second
or two. Correctness never depends on the hand-off: every event stays pending
in the outbox until an instance has sent it.
"""

from collections.abc import Callable

from django.db import transaction

from notifications.models import Event
from notifications.protocol.layer_messages import Outgoing, outgoing_for

# Called on the committing thread with the messages to send and the stored events they carry.
Sink = Callable[[list[Outgoing], list[Event]], None]

_sink: Sink | None = None


def set_sink(sink: Sink | None) -> None:
    """Register the process's fan-out (None when it stops)."""
    global _sink
    _sink = sink


def fan_out_on_commit(events: list[Event]) -> None:
    """Hand the events, in order, to the fan-out once the transaction commits."""
    transaction.on_commit(lambda: _hand_over(lambda: outgoing_for(events), events))


def send_on_commit(group: str, message: dict) -> None:
    """Send a control message (read, session ended) once the transaction commits."""
    transaction.on_commit(lambda: _hand_over(lambda: [Outgoing(group, message)], []))


def _hand_over(build_outgoing: Callable[[], list[Outgoing]], events: list[Event]) -> None:
    """Build the messages only when a sink will send them."""
    sink = _sink
    if sink is not None:
        sink(build_outgoing(), events)
