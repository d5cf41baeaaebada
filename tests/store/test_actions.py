"""Status moves go forward only, whoever calls the action: `queued` -> `processing` -> a terminal state."""

import pytest

from notifications.errors import Conflict
from notifications.models import Event, RequestStatus
from notifications.store import actions

pytestmark = pytest.mark.django_db

QUEUED, PROCESSING = RequestStatus.QUEUED, RequestStatus.PROCESSING
TERMINAL = [RequestStatus.SUCCEEDED, RequestStatus.FAILED, RequestStatus.CANCELLED]


@pytest.fixture
def tracked(django_user_model):
    owner = django_user_model.objects.create_user(username="owner", password=None)
    return actions.do_create_request(owner, "Export")[0]


def state_of(tracked) -> tuple[str, int, int]:
    tracked.refresh_from_db()
    return tracked.status, tracked.progress, tracked.events.count()


def refused(tracked, status, progress=None) -> Conflict:
    """Return the Conflict raised for this move, having checked that nothing was stored."""
    before = state_of(tracked)
    with pytest.raises(Conflict) as raised:
        actions.do_publish_status(tracked.id, status, progress)
    assert state_of(tracked) == before
    return raised.value


@pytest.mark.parametrize("terminal", TERMINAL)
def test_queued_may_go_straight_to_a_terminal_state(tracked, terminal):
    """A queued request may finish without ever processing."""
    actions.do_publish_status(tracked.id, terminal)
    assert state_of(tracked)[0] == terminal


def test_processing_may_repeat_with_rising_or_equal_progress(tracked):
    """`processing` repeats with a message; the same progress again is no step back."""
    for progress in (10, 40, 40, 90):
        actions.do_publish_status(tracked.id, PROCESSING, progress, message=f"at {progress}")
    actions.do_publish_status(tracked.id, PROCESSING, message="no progress given keeps 90")
    assert state_of(tracked) == (PROCESSING, 90, 6)


@pytest.mark.parametrize("terminal", TERMINAL)
def test_processing_ends_in_any_terminal_state(tracked, terminal):
    """From processing, succeeded, failed and cancelled are all allowed."""
    actions.do_publish_status(tracked.id, PROCESSING, 30)
    actions.do_publish_status(tracked.id, terminal)
    assert state_of(tracked)[0] == terminal


def test_progress_never_decreases(tracked):
    """`processing 80` then `processing 20` is refused with 409 naming the current status and progress."""
    actions.do_publish_status(tracked.id, PROCESSING, 80)
    conflict = refused(tracked, PROCESSING, 20)
    assert conflict.status_code == 409
    assert conflict.current == {"status": "processing", "progress": 80}
    assert "processing (progress 80)" in conflict.detail
    assert "never decreases" in conflict.detail


def test_a_terminal_state_with_lower_progress_is_refused(tracked):
    """Failing at 20 after reaching 80 would move progress back: refused."""
    actions.do_publish_status(tracked.id, PROCESSING, 80)
    assert refused(tracked, RequestStatus.FAILED, 20).current == {"status": "processing", "progress": 80}


def test_processing_cannot_go_back_to_queued(tracked):
    """Once processing, `queued` is a step back: refused."""
    actions.do_publish_status(tracked.id, PROCESSING, 10)
    conflict = refused(tracked, QUEUED)
    assert "cannot move to queued" in conflict.detail


def test_queued_again_is_refused(tracked):
    """A queued request is not queued a second time: `queued` -> `queued` is no move forward (409)."""
    assert refused(tracked, QUEUED).current == {"status": "queued", "progress": 0}


@pytest.mark.parametrize("terminal", TERMINAL)
@pytest.mark.parametrize("then", [QUEUED, PROCESSING, *TERMINAL])
def test_terminal_states_are_final(tracked, terminal, then):
    """After succeeded, failed or cancelled nothing moves the request, not even the same state again."""
    actions.do_publish_status(tracked.id, terminal)
    conflict = refused(tracked, then)
    assert conflict.detail.startswith(f"The request is already {terminal}")


def test_a_batch_is_checked_item_by_item_and_refused_whole(tracked):
    """Each change is checked against the state the earlier ones left; one bad move stores none, naming its index."""
    changes = [actions.StatusChange(tracked.id, PROCESSING, 50), actions.StatusChange(tracked.id, PROCESSING, 40)]
    events_before = Event.objects.count()
    with pytest.raises(Conflict) as raised:
        actions.do_publish_statuses(changes)
    assert raised.value.index == 1
    assert raised.value.current == {"status": "processing", "progress": 50}
    assert Event.objects.count() == events_before
    assert state_of(tracked)[:2] == ("queued", 0)


def test_cancelling_obeys_the_same_rule(tracked):
    """do_cancel_request (the admin's cancel) cannot cancel a finished request."""
    actions.do_publish_status(tracked.id, RequestStatus.SUCCEEDED)
    with pytest.raises(Conflict):
        actions.do_cancel_request(tracked.id)
