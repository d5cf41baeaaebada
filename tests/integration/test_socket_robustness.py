"""Sockets on real daphne: bad frames never kill them, limits close with the protocol's codes, ended sessions
and foreign origins are refused, and the lag metrics tell live delivery from replay."""

import asyncio

import pytest

from .harness import Deployment, connect_ws, expect_close, handshake_status, of_type, recv_json, recv_until
from .presence_client import wait_for_presence
from .robust_service import publish_for, start

USERS = ["ada", "mia", "tia", "dee", "ola"]
LIVE_LAG_COUNT = 'notify_delivery_lag_seconds_count{protocol="json"}'
REPLAY_LAG_COUNT = 'notify_replay_lag_seconds_count{protocol="json"}'
BAD_FRAMES = [
    '{"type": "ping", "ts": "\\ud800"}',  # a lone surrogate: valid UTF-8 text, no valid string
    '{"type": "ping", "ref": "\\udfff"}',
    '{"type": "\\ud800"}',
    '{"type": "ping", "ts": "a\\u0000b"}',
    '{"type": "ping", "ts": NaN}',
    '{"type": "ping", "ts": -Infinity}',
    '{"type": "ping", "ts": 1e400}',
    '{"type": "ping", "ts": ' + "[" * 1000 + "]" * 1000 + "}",
    "[" * 30_000,
    '{"type": "resume", "cursor": "0x0000000000000000000000"}',
    '{"type": "resume", "cursor": "00000000000_000000000000"}',
    '{"type": "resume", "cursor": " 00000000000000000000000"}',
    '{"type": "resume", "cursor": "+00000000000000000000000"}',
]


@pytest.fixture(scope="module")
def service(tmp_path_factory, amqp_url, static_files):
    """One instance on the real broker with users of its own, for this module's tests."""
    deployment = Deployment(tmp_path_factory.mktemp("socket-robustness"), amqp_url=amqp_url)
    try:
        yield start(deployment, USERS)
    except BaseException:
        print(deployment.log_report())
        raise
    finally:
        deployment.close()


async def welcomed(session, **kwargs):
    ws = await session.websocket(**kwargs)
    assert (await recv_json(ws))["type"] == "welcome"
    return ws


async def test_bad_frames_get_bad_request_and_the_socket_still_answers_ping(service):
    """Lone surrogates, NUL, non-finite numbers, deep nesting and forged cursors: `error`, then `pong`.

    Then the socket closes normally and presence stops counting it (a socket
    killed by such a frame used to stay counted).
    """
    ada, staff = service.session("ada"), service.session("boss")
    ws = await welcomed(ada)
    for index, text in enumerate(BAD_FRAMES):
        await ws.send(text)
        error = await recv_json(ws)
        assert (error["type"], error["code"]) == ("error", "bad_request"), (text[:60], error)
        await ws.send(f'{{"type": "ping", "ts": {index}}}')
        assert await recv_json(ws) == {"type": "pong", "ts": index}, "the socket did not survive " + text[:60]
    await wait_for_presence(staff, lambda s: s["connections"] == 1, timeout=10)
    await ws.close()
    await wait_for_presence(staff, lambda s: s["connections"] == 0, timeout=10)


async def test_a_frame_over_the_size_limit_closes_with_1009(service):
    """A frame over 64 KiB closes the socket with 1009 itself, as the client sees it (not 1011)."""
    ws = await welcomed(service.session("ada"))
    await ws.send('{"type": "ping", "ts": "' + "x" * (64 * 1024) + '"}')
    assert await expect_close(ws, timeout=10) == 1009


async def test_a_ticket_issued_before_logout_opens_nothing(service):
    """A ticket from a session that signed out since is refused with 4401; one of a live session opens."""
    tia = service.session("tia")
    live = tia.post_json("/api/v1/ws-tickets/").json()["ticket"]
    async with connect_ws(service.a, query={"ticket": live}, origin=None) as ws:
        assert (await recv_json(ws))["user"]["username"] == "tia"
    stale = tia.post_json("/api/v1/ws-tickets/").json()["ticket"]
    assert tia.logout().status_code in (200, 302)
    ws = await connect_ws(service.a, query={"ticket": stale}, origin=None)
    assert await expect_close(ws, timeout=5) == 4401


async def test_a_foreign_or_missing_origin_is_refused_with_403_at_the_handshake(service):
    """With a valid session cookie, a foreign or absent Origin gets HTTP 403; the site's own gets 101."""
    cookie = {"Cookie": service.session("ada").cookie_header()}
    assert await handshake_status(service.a, headers=cookie, origin="http://evil.example") == 403
    assert await handshake_status(service.a, headers=cookie, origin="https://127.0.0.1:1") == 403
    assert await handshake_status(service.a, headers=cookie, origin=None) == 403
    assert await handshake_status(service.a, headers=cookie) == 101


async def test_deactivating_the_user_closes_its_socket_with_4000(service):
    """A user deactivated in the database (as the admin does) is disconnected with 4000 by the periodic check."""
    ws = await welcomed(service.session("dee"))
    await asyncio.to_thread(service.deactivate, "dee")
    assert await expect_close(ws, timeout=15) == 4000


async def test_the_live_lag_histogram_counts_live_deliveries_only(service):
    """Scraped from /metrics: a live event moves the live histogram; its replay on resume only the replay one."""
    mia = service.session("mia")
    ws = await welcomed(mia)
    await ws.send('{"type": "resume", "cursor": "' + "0" * 24 + '"}')
    await recv_until(ws, of_type("replayed"))
    live_before = await asyncio.to_thread(service.metric, LIVE_LAG_COUNT)
    replay_before = await asyncio.to_thread(service.metric, REPLAY_LAG_COUNT)

    await asyncio.to_thread(publish_for, service, "mia")
    await recv_until(ws, of_type("event"), timeout=10)
    assert await asyncio.to_thread(service.metric, LIVE_LAG_COUNT) == live_before + 1
    assert await asyncio.to_thread(service.metric, REPLAY_LAG_COUNT) == replay_before

    again = await welcomed(mia)
    await again.send('{"type": "resume", "cursor": "' + "0" * 24 + '"}')
    replayed = await recv_until(again, of_type("replayed"))
    assert replayed["count"] == 1
    assert await asyncio.to_thread(service.metric, LIVE_LAG_COUNT) == live_before + 1
    assert await asyncio.to_thread(service.metric, REPLAY_LAG_COUNT) == replay_before + 1
    await ws.close()
    await again.close()
