"""STOMP heart-beats on a real socket (PROTOCOL 4.1, docs/stomp.md): the negotiated periods, kept both ways.

The instances offer 500 ms heart-beats (NOTIFY_STOMP_HEART_BEAT_MS), so the
periods negotiate to what each test's CONNECT asks, and a silent client is
given up on after twice its period. Timings are only bounded from below
(never faster than negotiated) and by generous timeouts.
"""

import asyncio

import pytest

from .two_instances import RawStomp, connected, deployed, frame

SERVER_PERIOD_MS = 500
# stomp_heartbeats.TOLERANCE: a client silent for twice its period is closed.
TOLERANCE = 2.0
# What the tests allow below a negotiated period, for clocks and scheduling.
SLACK = 0.9
USERS = ["ada", "bob", "cid"]


@pytest.fixture(scope="module")
def service(tmp_path_factory, amqp_url, static_files):
    env = {"NOTIFY_STOMP_HEART_BEAT_MS": str(SERVER_PERIOD_MS)}
    yield from deployed(tmp_path_factory, amqp_url, "stomp-heart-beats", USERS, extra_env=env)


async def test_a_client_that_goes_silent_gets_error_then_4408_after_twice_its_period(service):
    """CONNECT `heart-beat:700,0`: the server expects a beat every 700 ms and closes after 1.4 s of silence."""
    client_sends_ms = 700
    client = await connected(service, "ada", heart_beat=f"{client_sends_ms},0")
    loop = asyncio.get_running_loop()
    silent_since = loop.time()
    message, code = await client.error_then_close(timeout=15)
    assert (message, code) == ("heart-beat missed", 4408)
    assert loop.time() - silent_since >= TOLERANCE * client_sends_ms / 1000 * SLACK
    assert client.heart_beats == [], "the client asked for no heart-beats from the server"


async def test_a_client_that_keeps_beating_stays_and_still_receives_events(service):
    """Beats every 250 ms for three times the allowed silence: no ERROR, no close, and a live event arrives."""
    client = await connected(service, "bob", heart_beat="500,0")
    await client.ws.send(frame("SUBSCRIBE", {"id": "0", "destination": "/user/queue/notifications", "receipt": "s"}))
    assert (await client.next()).command == "RECEIPT"
    loop = asyncio.get_running_loop()
    until = loop.time() + 3 * TOLERANCE * 0.5
    for _ in range(100):
        if loop.time() >= until:
            break
        await client.ws.send("\n")
        with pytest.raises(TimeoutError):
            await client.next(timeout=0.25)
    answer = service.publisher().post_json("/api/v1/requests/", {"title": "Still here", "user": "bob"})
    assert answer.status_code == 201, answer.text
    message = await client.next()
    assert message.command == "MESSAGE" and message.get("destination") == "/user/queue/notifications"
    assert client.ws.close_code is None


@pytest.mark.parametrize("client_wants_ms", [SERVER_PERIOD_MS, 1000])
async def test_the_server_beats_at_the_negotiated_period_while_idle(service, client_wants_ms):
    """CONNECT `heart-beat:0,N`: an EOL every max(500, N) ms, never sooner; the client is never asked to beat."""
    client: RawStomp = await connected(service, "cid", heart_beat=f"0,{client_wants_ms}")
    period = max(SERVER_PERIOD_MS, client_wants_ms) / 1000
    for _ in range(20):
        if len(client.heart_beats) >= 5:
            break
        await client.read(timeout=10 * period)
    assert len(client.heart_beats) >= 5 and not client.pending
    gaps = [later - earlier for earlier, later in zip(client.heart_beats, client.heart_beats[1:], strict=False)]
    assert min(gaps) >= period * SLACK, gaps
    # Silent all along, past what a beating client would be allowed: it stays, since it said it sends none.
    await client.ws.send(frame("DISCONNECT", {"receipt": "bye"}))
    assert (await client.next()).command == "RECEIPT"
