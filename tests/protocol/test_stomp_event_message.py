"""The MESSAGE text built from a subscription's prefix is, byte for byte, what encoding the whole frame gives."""

import pytest

from notifications.protocol.stomp import server_frames
from notifications.protocol.stomp.frames import UnencodableFrame, encode

EVENT_ID = "6f1c1c0e-8a8c-4d3e-9a55-0d1b8f3f9c11"
CURSOR = "000000000000000300000000000000a2"


@pytest.mark.parametrize("version", ["1.2", "1.1"])
@pytest.mark.parametrize("ack", [None, EVENT_ID])
@pytest.mark.parametrize(
    "destination, subscription, body",
    [
        ("/user/queue/notifications", "sub-0", '{"type":"event","kind":"announcement"}'),
        ("/topic/announcements", "a:b\\c\nd\re", '{"title":"caf\\u00e9 \u00e9\u2603 \U0001f600"}'),
    ],
)
def test_event_message_is_the_encoded_message_frame(version, ack, destination, subscription, body):
    """Escaped prefix, the same header order, the body's length in UTF-8 bytes, the NUL."""
    whole = encode(
        server_frames.message(destination, subscription, EVENT_ID, CURSOR, body.encode("utf-8"), ack=ack), version
    )
    prefix = server_frames.message_prefix(destination, subscription, version)
    fast = server_frames.event_message(prefix, EVENT_ID, CURSOR, body, ack)
    assert fast.encode("utf-8") == whole


def test_a_lone_surrogate_in_the_body_raises_as_encoding_would():
    """The delivery skips such an event as poison, on every protocol alike."""
    prefix = server_frames.message_prefix("/user/queue/notifications", "0", "1.2")
    with pytest.raises(UnicodeEncodeError):
        server_frames.event_message(prefix, EVENT_ID, CURSOR, '{"m":"\ud800"}')


def test_a_prefix_refuses_a_nul_as_any_encoded_header_does():
    with pytest.raises(UnencodableFrame):
        server_frames.message_prefix("/user/queue/notifications", "a\x00b", "1.2")
