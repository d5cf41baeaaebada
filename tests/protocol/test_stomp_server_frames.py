"""The server's STOMP frames of PROTOCOL section 4.1, exactly as they go on the wire."""

from notifications.protocol.stomp import server_frames
from notifications.protocol.stomp.decoder import StompDecoder
from notifications.protocol.stomp.errors import BadHeader, FrameTooLarge, UnsupportedVersion
from notifications.protocol.stomp.frames import SERVER_COMMANDS, encode

CURSOR = "0000000000010000000000a2"
EVENT = b'{"type":"event","id":"e1","cursor":"0000000000010000000000a2","kind":"announcement"}'


def test_connected_states_the_server_wish_and_the_session():
    """CONNECTED: version, the server's own heart-beat wish, session, user-name, server and cursor, unescaped."""
    frame = server_frames.connected("1.2", (25000, 25000), "c0ffee", "alice", CURSOR)
    assert encode(frame) == (
        b"CONNECTED\nversion:1.2\nheart-beat:25000,25000\nsession:c0ffee\nuser-name:alice\nserver:notify/1\n"
        b"cursor:0000000000010000000000a2\n\n\x00"
    )


def test_message_carries_the_event_object():
    """MESSAGE: destination, subscription, message-id, cursor, JSON content-type and length; `ack` last when asked."""
    frame = server_frames.message("/user/queue/notifications", "sub-0", "e1", CURSOR, EVENT, ack="e1")
    assert encode(frame) == (
        b"MESSAGE\ndestination:/user/queue/notifications\nsubscription:sub-0\nmessage-id:e1\n"
        b"cursor:0000000000010000000000a2\ncontent-type:application/json\ncontent-length:%d\nack:e1\n\n%s\x00"
        % (len(EVENT), EVENT)
    )


def test_message_without_ack_and_with_extra_headers():
    """Auto-ack subscriptions get no `ack`; extra headers (the reset marker) come after `cursor`."""
    frame = server_frames.message(
        "/topic/announcements", "s:1", "r", CURSOR, b"{}", extra_headers=[("notify-reset", "history_expired")]
    )
    assert "ack" not in frame
    assert encode(frame) == (
        b"MESSAGE\ndestination:/topic/announcements\nsubscription:s\\c1\nmessage-id:r\n"
        b"cursor:0000000000010000000000a2\nnotify-reset:history_expired\ncontent-type:application/json\n"
        b"content-length:2\n\n{}\x00"
    )


def test_receipt_names_the_receipt():
    """RECEIPT carries the client's receipt as receipt-id, escaped like any header."""
    assert encode(server_frames.receipt("close:2")) == b"RECEIPT\nreceipt-id:close\\c2\n\n\x00"


def test_error_has_a_one_line_message_and_an_optional_text_body():
    """ERROR: `message` on one short line, the receipt-id if any, a plain-text body with its type and length."""
    frame = server_frames.error("not\nauthenticated", receipt_id="r1", text="Sign in first.")
    assert encode(frame) == (
        b"ERROR\nmessage:not authenticated\nreceipt-id:r1\ncontent-type:text/plain;charset=utf-8\n"
        b"content-length:14\n\nSign in first.\x00"
    )
    assert encode(server_frames.error("session ended")) == b"ERROR\nmessage:session ended\n\n\x00"
    assert len(server_frames.error("x" * 1000).get("message")) == server_frames.MAX_ERROR_MESSAGE_CHARS


def test_error_for_a_codec_error():
    """A refused client frame becomes an ERROR naming why; a version refusal also lists the versions spoken."""
    assert server_frames.error_for(BadHeader("header line without a colon: 'x'")).headers == (
        ("message", "header line without a colon: 'x'"),
    )
    assert server_frames.error_for(UnsupportedVersion(), receipt_id="r").headers == (
        ("message", "Supported protocol versions are 1.2 and 1.1."),
        ("version", "1.2,1.1"),
        ("receipt-id", "r"),
    )
    assert FrameTooLarge.close_code == 1009 and BadHeader.close_code == 1002


def test_the_server_frames_decode_back():
    """Every server frame, encoded in either version, decodes back to itself (what a client test would read)."""
    frames = [
        server_frames.connected("1.1", (25000, 25000), "c", "bob", CURSOR),
        server_frames.message("/user/queue/requests/r:1", "a\\b", "e", CURSOR, EVENT, ack="x\ny"),
        server_frames.receipt("r"),
        server_frames.error("bad", text="why"),
    ]
    for version in ("1.2", "1.1"):
        decoder = StompDecoder(64 * 1024, commands=SERVER_COMMANDS, version=version)
        assert decoder.feed(b"".join(encode(frame, version) for frame in frames)) == frames


def test_the_server_heart_beat_is_an_eol():
    """The server's heart-beat encodes to a single LF."""
    assert encode(server_frames.heartbeat) == b"\n"
