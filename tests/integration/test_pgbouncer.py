"""Two instances whose every database connection goes through PgBouncer in transaction pooling mode.

Transaction pooling hands each transaction any server connection, so
anything that lives in a session (prepared statements, advisory locks,
LISTEN, SET) would break; this shows publishing, idempotent retries, batch
storing (COPY), live fan-out and catch-up work through it (PostgreSQL only).
"""

import os
import urllib.parse
import uuid

import pytest

from .conftest import Service
from .harness.pgbouncer import PGBOUNCER, PgBouncer
from .harness.stream import StreamFollower

pytestmark = [
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")),
        reason="needs DATABASE_URL=postgres://...: PgBouncer pools PostgreSQL connections",
    ),
    pytest.mark.skipif(not os.path.exists(PGBOUNCER), reason="pgbouncer not installed (scripts/test installs it)"),
]

SERVER_CONNECTIONS = 3  # fewer than the two instances' pools could ask for


@pytest.fixture
def bounced(deployment, tmp_path):
    """Instances A and B with DATABASE_URL through a private PgBouncer; the PgBouncer."""
    server = urllib.parse.urlsplit(deployment.database_url)
    with PgBouncer(
        tmp_path / "pgbouncer", server.hostname, server.port or 5432, pool_size=SERVER_CONNECTIONS
    ) as bouncer:
        env = {"env": {"DATABASE_URL": bouncer.url_through(deployment.database_url)}}
        service = Service(deployment, a=env, b=env)
        yield service, bouncer
        for instance in (service.a, service.b):  # shut down through PgBouncer, before it goes
            instance.begin_terminate()
        for instance in (service.a, service.b):
            instance.terminate()


def _post(publisher, path: str, body: dict, status: int, **headers) -> dict:
    answer = publisher.post_json(path, body, headers=headers or None)
    assert answer.status_code == status, answer.text
    return answer.json()


async def test_publishing_fan_out_and_catch_up_work_through_transaction_pooling(bounced, deployment):
    """Single, batch and retried publishes are stored once; sockets on both instances get them live and on resume."""
    service, bouncer = bounced
    ada, bob = StreamFollower(service.session("ada")), StreamFollower(service.session("bob"))
    await ada.connect(service.b)
    await bob.connect(service.a)
    with service.publisher(service.a) as publisher:
        request_id = _post(publisher, "/api/v1/requests/", {"title": "Payroll", "user": "ada"}, 201)["id"]
        key = str(uuid.uuid4())
        first = _post(
            publisher,
            "/api/v1/events/",
            {"request": request_id, "status": "processing", "progress": 10},
            202,
            **{"Idempotency-Key": key},
        )
        again = _post(
            publisher,
            "/api/v1/events/",
            {"request": request_id, "status": "processing", "progress": 10},
            202,
            **{"Idempotency-Key": key},
        )
        assert again["id"] == first["id"], "a retried publish was stored twice"
        batch = [{"request": request_id, "status": "processing", "progress": p} for p in (20, 30, 40)]
        _post(publisher, "/api/v1/events/batch/", {"events": batch}, 202)
        _post(publisher, "/api/v1/broadcasts/", {"title": "Maintenance tonight"}, 202)
    await ada.read_until_count(6, timeout=15)  # queued, 10, 20, 30, 40, the announcement
    await bob.read_until_count(1, timeout=15)
    assert [e["request"]["progress"] for e in ada.events[1:5]] == [10, 20, 30, 40]
    assert ada.events[1]["id"] == first["id"]
    assert [e["kind"] for e in bob.events] == ["announcement"]

    await ada.disconnect()  # offline while the request finishes: caught up from the database on resume
    with service.publisher(service.b) as publisher:
        done = _post(publisher, "/api/v1/events/", {"request": request_id, "status": "succeeded"}, 202)
    await ada.connect(service.a)
    await ada.read_until_count(7, timeout=15)
    await ada.read_for(1.0)
    assert ada.ids[-1] == done["id"] and len(ada.ids) == len(set(ada.ids)) == 7
    await ada.disconnect()
    await bob.disconnect()

    name = urllib.parse.urlsplit(deployment.database_url).path.lstrip("/")
    [pool] = [row for row in bouncer.show("POOLS") if row["database"] == name]
    assert pool["pool_mode"] == "transaction"
    [stats] = [row for row in bouncer.show("STATS") if row["database"] == name]
    assert stats["total_xact_count"] > 0, "the instances did not go through PgBouncer"
    servers = [row for row in bouncer.show("SERVERS") if row["database"] == name]
    assert len(servers) <= SERVER_CONNECTIONS
