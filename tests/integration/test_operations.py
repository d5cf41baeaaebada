"""Operations on a real daphne instance: /metrics after real traffic, and logs that never carry a secret."""

import asyncio
import re
import time

import httpx

from .harness import TokenClient, UserSession, connect_ws, of_type, recv_json, recv_until

PASSWORD = "correct-horse-battery-staple"


def sample(body: str, name: str, labels: str = "") -> float:
    match = re.search(rf"^{re.escape(name)}{re.escape(labels)} (\S+)$", body, re.MULTILINE)
    assert match, f"{name}{labels} not in the metrics"
    return float(match.group(1))


def socket_line(event: str, connection_id: str, user_id: int, *fields: str) -> str:
    """Return a pattern for one log line of a socket carrying these fields, in any order."""
    wanted = [f"event={re.escape(event)}", f"connection_id={connection_id}", f"user_id={user_id}", *fields]
    return "(?m)^" + "".join(rf"(?=.*\b{field}(?:\s|$))" for field in wanted) + ".*$"


async def wait_for_log(instance, pattern: str, timeout: float = 5) -> str:
    """Return the instance's log once `pattern` occurs in it; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while not re.search(pattern, log := instance.log_path.read_text()):
        assert time.monotonic() < deadline, f"{pattern!r} never logged"
        await asyncio.sleep(0.1)
    return log


async def real_traffic(deployment, instance) -> dict:
    """Sign in, get a ticket, open a ticket socket, publish with a token, send a bad frame; return the secrets."""
    deployment.create_user("ada", PASSWORD)
    token = deployment.create_service_token("worker", "publish")
    ada = UserSession(instance, "ada", PASSWORD).login()
    ticket = ada.post_json("/api/v1/ws-tickets/", {}).json()["ticket"]
    ws = await connect_ws(instance, query={"ticket": ticket})
    welcome = await recv_json(ws)
    assert welcome["type"] == "welcome"
    await ws.send(f'{{"type":"resume","cursor":"{welcome["cursor"]}"}}')
    await recv_until(ws, of_type("replayed"))
    with TokenClient(instance, token) as publisher:
        created = publisher.post_json("/api/v1/requests/", {"title": "Payroll", "user": "ada"})
        assert created.status_code == 201, created.text
        body = {"request": created.json()["id"], "status": "processing", "progress": 50}
        assert publisher.post_json("/api/v1/events/", body).status_code == 202
        assert publisher.http.get("/api/v1/requests/", headers={"Authorization": "Token wrong-token-1234"}).is_error
    await recv_until(ws, lambda f: f.get("request", {}).get("status") == "processing", timeout=10)
    await ws.send("{broken")
    await recv_until(ws, of_type("error"))
    secrets = {
        "password": PASSWORD,
        "ticket": ticket,
        "token": token,
        "sessionid": ada.http.cookies["sessionid"],
        "csrftoken": ada.csrf_token,
    }
    return {"ws": ws, "welcome": welcome, "secrets": secrets, "user_id": welcome["user"]["id"]}


async def test_metrics_count_real_traffic_and_logs_carry_ids_but_no_secret(make_deployment):
    """After a ticket socket, a token publish and a login: counters moved, and no secret is in any log line."""
    deployment = make_deployment()
    instance = deployment.instance("A", env={"DJANGO_LOG_LEVEL": "DEBUG"})
    traffic = await real_traffic(deployment, instance)

    with httpx.Client(base_url=instance.url, trust_env=False) as http:
        body = http.get("/metrics").text
    assert sample(body, "notify_open_connections") == 1
    assert sample(body, "notify_events_stored_total", '{kind="request.status"}') == 2
    assert sample(body, "notify_events_fanned_out_total") == 2
    assert sample(body, "notify_events_failed_total") == 0  # exposed, and still for events that could be sent
    assert sample(body, "notify_delivery_lag_seconds_count", '{protocol="json"}') >= 2
    assert sample(body, "notify_frames_refused_total", '{code="bad_request",protocol="json"}') == 1
    assert sample(body, "notify_channel_layer_reconnects_total") == 0
    await traffic["ws"].close()

    cid, uid = traffic["welcome"]["connection_id"], traffic["user_id"]
    log = await wait_for_log(instance, socket_line("ws.disconnect", cid, uid))
    assert re.search(socket_line("ws.connect", cid, uid), log)
    assert re.search(socket_line("ws.frame_refused", cid, uid, "code=bad_request"), log)
    assert "event=event.published" in log
    assert "WSCONNECT /ws/notifications/" in log, "daphne's own access log is on in this test"
    for name, secret in traffic["secrets"].items():
        assert secret not in log, f"the {name} appears in the log"


async def test_metrics_need_the_token_when_one_is_set(make_deployment):
    """With NOTIFY_METRICS_TOKEN set, even a loopback scrape needs `Authorization: Bearer`."""
    instance = make_deployment().instance("A", env={"NOTIFY_METRICS_TOKEN": "scrape-me-please"})
    with httpx.Client(base_url=instance.url, trust_env=False) as http:
        assert http.get("/metrics").status_code == 401
        answer = http.get("/metrics", headers={"Authorization": "Bearer scrape-me-please"})
    assert answer.status_code == 200 and "notify_open_connections" in answer.text


async def test_json_log_lines_parse(make_deployment):
    """DJANGO_LOG_FORMAT=json: every line our loggers write is one JSON object."""
    import json

    deployment = make_deployment()
    instance = deployment.instance("A", env={"DJANGO_LOG_FORMAT": "json"})
    traffic = await real_traffic(deployment, instance)
    await traffic["ws"].close()
    log = await wait_for_log(instance, '"event": "ws.disconnect"')
    ours = [line for line in log.splitlines() if line.startswith("{")]
    records = [json.loads(line) for line in ours]
    connects = [r for r in records if r.get("event") == "ws.connect"]
    assert connects and connects[0]["connection_id"] == traffic["welcome"]["connection_id"]
