"""A reconnect storm held off on real daphne: past the connect rate, sockets get 1013 and event streams 503."""

import asyncio
import re

import httpx

from .harness import UserSession, connect_ws, expect_close, recv_json

RATE, BURST = 0.2, 3  # three connects, then one every 5 s
PASSWORD = "correct-horse-battery"


def _shed_count(instance) -> float:
    text = httpx.get(instance.url + "/metrics", timeout=10, trust_env=False).text
    return sum(float(value) for value in re.findall(r"^notify_sockets_shed_total\{[^}]*\} (\S+)$", text, re.M))


async def test_connects_past_the_rate_are_told_to_come_back_later(make_deployment):
    """A burst is served; the rest close with 1013 (STOMP and MQTT offers too), SSE gets 503; the served stay."""
    deployment = make_deployment(
        amqp_url="", extra_env={"NOTIFY_MAX_CONNECTS_PER_SEC": str(RATE), "NOTIFY_CONNECT_BURST": str(BURST)}
    )
    instance = deployment.instance("A")
    deployment.provision({"ada": PASSWORD}, "worker", "publish")
    ada = UserSession(instance, "ada", PASSWORD).login()
    cookie = {"Cookie": ada.cookie_header()}

    served = [await connect_ws(instance, headers=cookie) for _ in range(BURST)]
    for ws in served:
        assert (await recv_json(ws))["type"] == "welcome"

    shed = await connect_ws(instance, headers=cookie)
    assert await expect_close(shed) == 1013
    stomp = await connect_ws(instance, "/ws/stomp/", headers=cookie, subprotocols=["v12.stomp"])
    assert stomp.subprotocol == "v12.stomp"
    assert await expect_close(stomp) == 1013
    async with httpx.AsyncClient(base_url=instance.url, headers=cookie, trust_env=False) as client:
        answer = await client.get("/api/v1/stream/", headers={"Accept": "text/event-stream"})
    assert answer.status_code == 503 and answer.headers["retry-after"] == "2"
    mqtt = await connect_ws(instance, "/mqtt", headers=cookie, subprotocols=["mqtt"])
    assert mqtt.subprotocol == "mqtt"
    assert await expect_close(mqtt) == 1013

    for ws in served:  # the sockets already served are untouched
        await ws.send('{"type": "ping", "ts": 1}')
        assert (await recv_json(ws))["type"] == "pong"
        await ws.close()
    assert await asyncio.to_thread(_shed_count, instance) == 4  # the JSON, STOMP and MQTT sockets, the stream
    await asyncio.sleep(1 / RATE)  # the budget refills: a client that came back later is served
    later = await connect_ws(instance, headers=cookie)
    assert (await recv_json(later))["type"] == "welcome"
    await later.close()
