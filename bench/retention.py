"""Retention at volume: prune_events' batched DELETE against dropping a day's partition (PostgreSQL).

    .venv/bin/python -m bench.retention                   # 1,000,000 events over 8 days, the oldest day pruned
    .venv/bin/python -m bench.retention --events 200000   # smaller

A fresh database of the real schema gets `--events` events spread evenly over
DAYS days (per-user streams of USERS users, all fanned out). A copy of the
same rows goes into a table partitioned by day on `created_at`, the layout
the product would move to. Then, for the oldest day:
- the product's own `prune_expired_events` (batched DELETE, stream heads
  moved in the same transactions), timed, with the WAL it wrote;
- `DETACH PARTITION` and `DROP TABLE` of that day's partition, the same.
And a resume's read (a user's events past a cursor, as `events_after` asks)
against both layouts, since a partitioned table is read through every
partition when the query does not name `created_at`.

WAL is read from the server's position, so other databases' writes during a
step count too: run it on a quiet server for exact WAL figures.
"""

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import psycopg

from tests.integration.harness import Deployment

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
DAYS = 8
HISTORY_DAYS = DAYS - 1  # so exactly the oldest day is past the window
USERS = 1000
RESUME_READS = 300
PAYLOAD = json.dumps(
    {
        "type": "event",
        "kind": "request.status",
        "title": "Monthly payroll export",
        "message": "Processing the 4th of 12 files",
        "request": {"status": "processing", "progress": 40, "title": "Monthly payroll export"},
    }
)
PRUNE_SCRIPT = """
import json, time
from notifications.store.retention import prune_expired_events
started = time.perf_counter()
deleted = prune_expired_events()
print(json.dumps({"deleted": deleted, "secs": time.perf_counter() - started}))
"""
PARTITIONED = "bench_event_by_day"


def populate(connection: psycopg.Connection, events: int) -> None:
    """Users, their stream heads, and `events` fanned-out events, oldest DAYS days ago, evenly spread."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff,"
            " is_active, date_joined) SELECT '!', false, 'retention' || g, '', '', '', false, true, now()"
            " FROM generate_series(1, %s) g",
            [USERS],
        )
        cursor.execute("SELECT array_agg(id ORDER BY id) FROM auth_user WHERE username LIKE 'retention%%'")
        [user_ids] = cursor.fetchone()
        per_user = -(-events // USERS)
        cursor.execute(
            "INSERT INTO notifications_streamhead (user_id, last_seq, read_position, pruned_through_seq)"
            " SELECT unnest(%s::int[]), %s, 0, 0",
            [user_ids, per_user],
        )
        # Event g belongs to user (g - 1) % USERS with seq (g - 1) / USERS + 1; created_at grows with g.
        cursor.execute(
            "INSERT INTO notifications_event (id, kind, seq, payload, created_at, fanned_out_at, fanout_attempts,"
            " user_id, fanout_error)"
            " SELECT gen_random_uuid(), 'request.status', (g - 1) / %(users)s + 1, %(payload)s::jsonb,"
            "  now() - make_interval(days => %(days)s) + (g::float / %(events)s) * make_interval(days => %(days)s),"
            "  now() - make_interval(days => %(days)s) + (g::float / %(events)s) * make_interval(days => %(days)s),"
            "  1, (%(ids)s::int[])[(g - 1) %% %(users)s + 1], ''"
            " FROM generate_series(1, %(events)s) g",
            {"users": USERS, "payload": PAYLOAD, "days": DAYS, "events": events, "ids": user_ids},
        )
    connection.commit()


def copy_into_partitions(connection: psycopg.Connection) -> list[str]:
    """Create the by-day partitioned copy of the events table, fill it, return its partitions oldest first."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {PARTITIONED} (LIKE notifications_event INCLUDING DEFAULTS) PARTITION BY RANGE (created_at)"
        )
        # Unique keys of a partitioned table must hold the partition key: (position) becomes (position, created_at).
        cursor.execute(f"ALTER TABLE {PARTITIONED} ADD PRIMARY KEY (position, created_at)")
        cursor.execute(f"CREATE INDEX ON {PARTITIONED} (user_id, seq)")
        cursor.execute(f"CREATE INDEX ON {PARTITIONED} (fanned_out_at, position)")
        cursor.execute(f"CREATE INDEX ON {PARTITIONED} (created_at)")
        # Days counted from the oldest event, so the first partition holds what the history window drops.
        [first] = cursor.execute("SELECT min(created_at) FROM notifications_event").fetchone()
        partitions = []
        for day in range(DAYS + 1):
            name = f"{PARTITIONED}_day{day}"
            lower, upper = (first + timedelta(days=day + n) for n in (0, 1))  # DDL takes no parameters
            bounds = f"FROM ('{lower.isoformat()}') TO ('{upper.isoformat()}')"
            cursor.execute(f"CREATE TABLE {name} PARTITION OF {PARTITIONED} FOR VALUES {bounds}")
            partitions.append(name)
        cursor.execute(f"INSERT INTO {PARTITIONED} SELECT * FROM notifications_event")
    connection.commit()
    connection.execute("ANALYZE notifications_event")
    connection.execute(f"ANALYZE {PARTITIONED}")
    connection.commit()
    return partitions


def wal_position(connection: psycopg.Connection) -> str:
    return connection.execute("SELECT pg_current_wal_lsn()").fetchone()[0]


def wal_mib_since(connection: psycopg.Connection, since: str) -> float:
    written = connection.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", [since]).fetchone()[0]
    return round(float(written) / 2**20, 1)


def prune_by_delete(app: Deployment, connection: psycopg.Connection) -> dict:
    """The product's retention: `prune_expired_events` in a manage.py process, as cron runs it."""
    before = wal_position(connection)
    started = time.perf_counter()
    output = app.manage("shell", "--no-imports", "-c", PRUNE_SCRIPT, env=app.env(NOTIFY_HISTORY_DAYS=str(HISTORY_DAYS)))
    wall = time.perf_counter() - started
    result = json.loads(output.splitlines()[-1])
    return {
        "rows": result["deleted"],
        "secs": round(result["secs"], 2),
        "process_secs": round(wall, 2),
        "wal_mib": wal_mib_since(connection, before),
    }


def prune_by_drop(connection: psycopg.Connection, partition: str) -> dict:
    """Retention by partition: detach the oldest day, then drop it."""
    rows = connection.execute(f"SELECT count(*) FROM {partition}").fetchone()[0]
    connection.commit()
    before = wal_position(connection)
    started = time.perf_counter()
    connection.execute(f"ALTER TABLE {PARTITIONED} DETACH PARTITION {partition}")
    connection.execute(f"DROP TABLE {partition}")
    connection.commit()
    secs = time.perf_counter() - started
    return {"rows": rows, "secs": round(secs, 3), "wal_mib": wal_mib_since(connection, before)}


def resume_reads(connection: psycopg.Connection, table: str, events: int) -> float:
    """Median ms of a resume's read: one user's next 500 events past a random cursor, in storing order."""
    rng = random.Random(7)
    per_user = max(1, events // USERS)
    user_ids = [row[0] for row in connection.execute("SELECT user_id FROM notifications_streamhead")]
    times = []
    for _ in range(RESUME_READS):
        started = time.perf_counter()
        connection.execute(
            f"SELECT * FROM {table} WHERE (user_id = %s AND seq > %s) OR (user_id IS NULL AND seq > 0)"
            " ORDER BY position LIMIT 501",
            [rng.choice(user_ids), rng.randrange(per_user)],
        ).fetchall()
        times.append(time.perf_counter() - started)
    connection.commit()
    return round(statistics.median(times) * 1000, 2)


def run(events: int) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="bench-retention-"))
    with Deployment(workdir, amqp_url="", database_url=DATABASE_URL) as app:
        with psycopg.connect(app.database_url) as connection:
            started = time.perf_counter()
            populate(connection, events)
            partitions = copy_into_partitions(connection)
            print(f"populated {events:,} events twice in {time.perf_counter() - started:.0f} s", flush=True)
            reads = {
                "resume_ms_plain": resume_reads(connection, "notifications_event", events),
                "resume_ms_partitioned": resume_reads(connection, PARTITIONED, events),
            }
            deleted = prune_by_delete(app, connection)
            dropped = prune_by_drop(connection, partitions[0])
    result = {"events": events, "days": DAYS, "delete": deleted, "drop_partition": dropped, **reads}
    print(json.dumps(result), flush=True)
    return result


def table(result: dict) -> str:
    rows = [
        ("`prune_events` (batched DELETE)", result["delete"], result["resume_ms_plain"]),
        ("DETACH + DROP of the day's partition", result["drop_partition"], result["resume_ms_partitioned"]),
    ]
    return "\n".join(
        [
            f"{result['events']:,} events over {result['days']} days; the oldest day removed:",
            "",
            "| retention | rows removed | seconds | WAL MiB | resume read, median ms |",
            "|---|---|---|---|---|",
            *(f"| {name} | {r['rows']:,} | {r['secs']} | {r['wal_mib']} | {resume} |" for name, r, resume in rows),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="events stored before pruning")
    args = parser.parse_args()
    print(table(run(args.events)))


if __name__ == "__main__":
    main()
