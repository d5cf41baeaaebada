"""The stored streams: gapless sequences that commit in order, so resume never skips."""

import random
import threading
import time

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction

from notifications.models import Event
from notifications.protocol.cursors import Cursor
from notifications.store import actions, streams


@pytest.fixture
def ada(db):
    return get_user_model().objects.create_user("ada", password="pw")


def test_each_stream_numbers_its_events_without_gaps(ada):
    """A user's events are 1, 2, 3...; announcements have their own sequence."""
    tracked, _ = actions.do_create_request(ada, "Import")
    actions.do_publish_status(tracked.id, "processing", 10)
    actions.do_broadcast("Hello")
    own = list(Event.objects.filter(user=ada).values_list("seq", flat=True))
    assert own == [1, 2]
    assert list(Event.objects.filter(user=None).values_list("seq", flat=True)) == [1]
    assert streams.head_cursor(ada.pk) == Cursor(announcements=1, own=2)


def test_rows_are_built_by_position_in_the_models_field_order():
    """`EVENT_COLUMNS` is Event's concrete fields in order, so building a row by position sets each one right."""
    assert streams.EVENT_COLUMNS == tuple(field.attname for field in Event._meta.concrete_fields)


def test_an_appended_row_is_the_one_keywords_would_build(ada, django_assert_num_queries):
    """Each field as `Event(**values)` sets it (outbox fields at their defaults); the request read without a query."""
    tracked, _ = actions.do_create_request(ada, "Import")
    with transaction.atomic():
        [row] = streams.append_events([streams.NewEvent("request.status", {"k": 1}, ada.pk, tracked)])
    given = {name: getattr(row, name) for name in ("id", "kind", "user_id", "seq", "payload", "created_at")}
    expected = Event(**given, request=tracked)
    for name in streams.EVENT_COLUMNS[1:]:
        assert getattr(row, name) == getattr(expected, name), name
    with django_assert_num_queries(0):
        assert row.request is tracked
    stored = Event.objects.get(pk=row.pk)
    assert [getattr(stored, name) for name in streams.EVENT_COLUMNS] == [
        getattr(row, name) for name in streams.EVENT_COLUMNS
    ]


def test_events_after_a_cursor_are_the_users_stream_only(ada):
    """Replay returns the user's own events and announcements, never another user's."""
    bob = get_user_model().objects.create_user("bob", password="pw")
    actions.do_create_request(bob, "Bob's")
    actions.do_create_request(ada, "Ada's")
    actions.do_broadcast("Everyone")
    replay = streams.events_after(ada.pk, Cursor())
    assert [e.payload.get("request", {}).get("title", e.payload.get("title")) for e in replay.events] == [
        "Ada's",
        "Everyone",
    ]


def test_heads_for_users_are_the_announcement_head_and_each_named_users_own(ada):
    """One query answers the hub's heads check: the announcements' head, and the own head of each user asked for."""
    bob = get_user_model().objects.create_user("bob", password="pw")
    carol = get_user_model().objects.create_user("carol", password="pw")
    actions.do_create_request(ada, "Ada's")
    actions.do_create_request(bob, "Bob's")
    tracked, _ = actions.do_create_request(bob, "Bob's second")
    actions.do_create_request(carol, "Not asked for")
    actions.do_broadcast("Everyone")
    assert streams.heads_for_users([ada.pk, bob.pk]) == (1, {ada.pk: 1, bob.pk: 2})


def test_unread_counts_follow_the_read_marker(ada):
    """Marking read up to an event leaves only later events unread."""
    tracked, first = actions.do_create_request(ada, "Import")
    actions.do_publish_status(tracked.id, "processing", 50)
    assert streams.unread_count(ada.pk) == 2
    assert actions.do_mark_read(ada, first.id) == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_publishers_never_let_a_resume_skip_an_event():
    """Readers that resume from cursors taken at any moment, while four publishers commit
    at once, each end up with every event of the stream exactly once and in order."""
    user = get_user_model().objects.create_user("ada", password="pw")
    requests = [actions.do_create_request(user, f"R{i}")[0] for i in range(4)]
    publishers_done = threading.Event()
    errors = []

    def publish(tracked):
        try:
            for step in range(15):
                actions.do_publish_status(tracked.id, "processing", step)
                if step % 5 == 0:
                    actions.do_broadcast(f"note {tracked.title} {step}")
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    def read(seen: list):
        cursor = Cursor()
        try:
            while True:
                finished = publishers_done.is_set()
                for event in streams.events_after(user.pk, cursor, limit=7).events:
                    seen.append(event.id)
                    if event.user_id is None:
                        assert event.seq == cursor.announcements + 1, "announcement skipped"
                        cursor = cursor.after_announcement(event.seq)
                    else:
                        assert event.seq == cursor.own + 1, "own event skipped"
                        cursor = cursor.after_own(event.seq)
                if finished and not streams.events_after(user.pk, cursor).events:
                    return
                time.sleep(random.random() / 100)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    readers = [[] for _ in range(3)]
    threads = [threading.Thread(target=publish, args=(r,)) for r in requests]
    threads += [threading.Thread(target=read, args=(seen,)) for seen in readers]
    for thread in threads:
        thread.start()
    for thread in threads[:4]:
        thread.join(timeout=120)
    publishers_done.set()
    for thread in threads[4:]:
        thread.join(timeout=120)

    assert not errors, errors
    everything = list(Event.objects.filter(streams.stream_of(user.pk)).values_list("id", flat=True))
    assert len(everything) == 4 + 4 * 15 + 4 * 3
    for seen in readers:
        assert sorted(seen) == sorted(everything)


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_over_shared_streams_neither_deadlock_nor_leave_gaps():
    """Batches naming the same users in opposite orders, beside single publishes, all commit,
    and every user's stream is numbered 1, 2, 3... without a gap."""
    users = [get_user_model().objects.create_user(f"u{i}", password=None) for i in range(4)]
    requests = [actions.do_create_request(user, "Job")[0] for user in users]
    errors = []

    def publish(order: list, rounds: int):
        try:
            for step in range(rounds):
                if len(order) == 1:
                    actions.do_publish_status(order[0].id, "processing", message=f"step {step}")
                else:
                    # No progress: the plans race, and progress never moves back.
                    changes = [actions.StatusChange(tracked.id, "processing", message=f"{step}") for tracked in order]
                    actions.do_publish_statuses(changes)
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    plans = [(requests, 10), (requests[::-1], 10), ([requests[2]], 10), (requests[1::2] + requests[::2], 10)]
    threads = [threading.Thread(target=publish, args=plan) for plan in plans]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not errors, errors
    for user in users:
        seqs = list(Event.objects.filter(user=user).order_by("position").values_list("seq", flat=True))
        assert seqs == list(range(1, len(seqs) + 1))
    assert Event.objects.filter(user__isnull=False).count() == 4 + 4 * 10 * 3 + 10
