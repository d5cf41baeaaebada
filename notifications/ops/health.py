"""`/healthz` (the process runs) and `/readyz` (it can serve: database and channel layer reachable)."""

from django.db import connection
from django.http import JsonResponse

from notifications.ops import runtime_status


def healthz(request):
    return JsonResponse({"status": "ok"})


def readyz(request):
    checks = {"database": _database(), "channel_layer": _channel_layer()}
    ready = all(check["ok"] for check in checks.values())
    down = [name for name, check in checks.items() if not check["ok"]]
    body = {"status": "ready" if ready else "unavailable", "down": down, "checks": checks}
    return JsonResponse(body, status=200 if ready else 503)


# Load balancers and orchestrators give a probe a second or two; the pool's own
# wait (10 s) would make an unreachable database look like a hung process.
DATABASE_CHECK_TIMEOUT_SECS = 2.0


def _database() -> dict:
    try:
        pool = getattr(connection, "pool", None)  # PostgreSQL with a pool; SQLite has none
        if pool is not None:
            pool.open()
            with pool.connection(timeout=DATABASE_CHECK_TIMEOUT_SECS) as pooled:
                pooled.execute("SELECT 1")
        else:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        return {"ok": True}
    except Exception as exc:  # any driver error means "not reachable"
        return {"ok": False, "error": exc.__class__.__name__}


def _channel_layer() -> dict:
    status = runtime_status.current()
    if status is None:
        return {"ok": False, "error": "not started"}
    return {"ok": status["healthy"], **status}
