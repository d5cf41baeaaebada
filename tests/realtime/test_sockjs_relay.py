"""The cross-instance relay of SockJS requests: messages, credentials, and forwarding over a layer."""

import asyncio

import pytest

from notifications.realtime.sockjs import relay as relay_module
from notifications.realtime.sockjs.relay import Credential, NotHeld, Relay, reply_message, request_message


def test_request_and_reply_messages_carry_what_the_owner_and_requester_need():
    """A request names its op, session, request id and reply channel; a reply its status, frame and end."""
    message = request_message("send", "notifications", "s1", "r1", "chan!x", messages=["{}"])
    assert message == {
        "type": "sockjs.request",
        "op": "send",
        "endpoint": "notifications",
        "session": "s1",
        "request": "r1",
        "reply_to": "chan!x",
        "messages": ["{}"],
    }
    assert reply_message("r1", frame="h", done=False) == {
        "type": "sockjs.reply",
        "request": "r1",
        "status": 200,
        "frame": "h",
        "done": False,
    }


def test_a_credential_travels_as_a_list_and_keeps_only_a_digest_of_the_ticket():
    """The ticket itself never travels or is kept: only its SHA-256."""
    credential = Credential(3, relay_module.ticket_digest("secret-ticket"))
    assert "secret-ticket" not in str(credential.as_message())
    assert Credential.from_message(credential.as_message()) == credential
    assert relay_module.ticket_digest(None) is None


class FakeLink:
    """A layer link whose group_send hands the request to an owner function on the same loop."""

    is_rabbitmq = True
    channel = "requester!1"

    def __init__(self, answer):
        self.answer = answer
        self.sent = []

    async def call(self, method, *args, timeout=3.0):
        self.sent.append((method, args))
        if method == "group_send":
            asyncio.get_running_loop().call_soon(self.answer, args[1])


class FakeHub:
    def __init__(self, link):
        self.link = link
        self.spawned = []

    @property
    def tasks(self):
        hub = self

        class Tasks:
            def spawn(self, coroutine, name):
                hub.spawned.append(name)
                return asyncio.ensure_future(coroutine)

        return Tasks()


@pytest.fixture
def forwarding(monkeypatch):
    def make(answer):
        hub = FakeHub(FakeLink(answer))

        async def ensure_started():
            return hub

        monkeypatch.setattr(relay_module.Hub, "ensure_started", ensure_started)
        return hub

    return make


async def test_forward_yields_the_owners_replies_until_done(forwarding):
    """The owner's replies to the request, matched by request id, are yielded in order up to `done`."""
    relay = Relay()

    def owner(message):
        for frame, done in ((None, False), ("o", False), ('a["x"]', True)):
            relay.on_reply(reply_message(message["request"], frame=frame, done=done))
        relay.on_reply(reply_message("someone-else", frame="never"))

    forwarding(owner)
    replies = [r async for r in relay.forward("stream", "notifications", "s1", silence_secs=1)]
    assert [r["frame"] for r in replies] == [None, "o", 'a["x"]']
    assert relay._waiting == {}


async def test_no_answer_means_the_session_is_not_held(forwarding, monkeypatch):
    """With no owner bound to the session's group, the first reply never comes: NotHeld."""
    monkeypatch.setattr(relay_module, "FIRST_REPLY_SECS", 0.05)
    relay = Relay()
    forwarding(lambda message: None)
    with pytest.raises(NotHeld):
        async for _ in relay.forward("send", "notifications", "gone", silence_secs=0, messages=[]):
            pass
    assert relay._waiting == {}


async def test_a_receiver_that_leaves_early_is_detached_at_the_owner(forwarding):
    """A poll abandoned before its last frame tells the owner, so the session's receiver slot frees."""
    relay = Relay()
    hub = forwarding(lambda message: relay.on_reply(reply_message(message["request"], done=False)))
    replies = relay.forward("poll", "notifications", "s1", silence_secs=1)
    await replies.__anext__()
    await replies.aclose()
    await asyncio.sleep(0)
    assert hub.spawned == ["sockjs detach"]
    ops = [args[1]["op"] for method, args in hub.link.sent if method == "group_send"]
    assert ops == ["poll", "detach"]
