"""What stock STOMP clients send, byte for byte, decodes to the frames they mean.

The vectors were taken from @stomp/stompjs 7.5, webstomp-client 1.2.6 and
stomp.py 8.2 (WSStompConnection) talking to a stub socket: header order,
escaping (or none), content-length and the heart-beat EOL exactly as each
writes them.
"""

from notifications.protocol.stomp import server_frames
from notifications.protocol.stomp.decoder import StompDecoder
from notifications.protocol.stomp.frames import HEARTBEAT, StompFrame, encode
from notifications.protocol.stomp.negotiation import negotiate_heart_beat, negotiate_version, select_subprotocol

LIMIT = 64 * 1024
CURSOR = "0000000000010000000000a2"


def decode_messages(*messages: bytes | str, version: str = "1.2") -> list[StompFrame]:
    decoder = StompDecoder(LIMIT, version=version)
    return [frame for message in messages for frame in decoder.feed(message)]


def test_stompjs_session():
    """@stomp/stompjs 7: CONNECT unescaped with its defaults, then 1.2 frames with `\\c` escapes, one per message."""
    frames = decode_messages(
        "CONNECT\npasscode:TICKET\naccept-version:1.2,1.1,1.0\nheart-beat:10000,10000\n\n\x00",
        f"SUBSCRIBE\ncursor:{CURSOR}\nreceipt:r-1\nid:sub-0\ndestination:/user/queue/notifications\n\n\x00",
        "SUBSCRIBE\nack:client-individual\nid:sub-1\ndestination:/user/queue/requests\n\n\x00",
        "ACK\nid:e1\\c7\nsubscription:sub-1\n\n\x00",
        "NACK\nid:e1\\c8\nsubscription:sub-1\n\n\x00",
        "\n",
        "SEND\ndestination:/app/echo\ncontent-length:3\n\nhé\x00",
        "SEND\ndestination:/app/a\\cb\nnote:line1\\nline2\\\\\n\n\x00",
        "UNSUBSCRIBE\nid:sub-0\n\n\x00",
        "DISCONNECT\nreceipt:close-2\n\n\x00",
    )
    assert frames == [
        StompFrame(
            "CONNECT",
            (("passcode", "TICKET"), ("accept-version", "1.2,1.1,1.0"), ("heart-beat", "10000,10000")),
        ),
        StompFrame(
            "SUBSCRIBE",
            (("cursor", CURSOR), ("receipt", "r-1"), ("id", "sub-0"), ("destination", "/user/queue/notifications")),
        ),
        StompFrame(
            "SUBSCRIBE", (("ack", "client-individual"), ("id", "sub-1"), ("destination", "/user/queue/requests"))
        ),
        StompFrame("ACK", (("id", "e1:7"), ("subscription", "sub-1"))),
        StompFrame("NACK", (("id", "e1:8"), ("subscription", "sub-1"))),
        HEARTBEAT,
        StompFrame("SEND", (("destination", "/app/echo"), ("content-length", "3")), "hé".encode()),
        StompFrame("SEND", (("destination", "/app/a:b"), ("note", "line1\nline2\\"))),
        StompFrame("UNSUBSCRIBE", (("id", "sub-0"),)),
        StompFrame("DISCONNECT", (("receipt", "close-2"),)),
    ]


def test_stompjs_negotiates_1_2_and_its_heart_beats():
    """stompjs offers v12/v11/v10.stomp and 1.2,1.1,1.0: 1.2 is chosen; 10 s each way against our 25 s wish."""
    assert select_subprotocol(["v12.stomp", "v11.stomp", "v10.stomp"]) == "v12.stomp"
    assert negotiate_version("1.2,1.1,1.0", "v12.stomp") == "1.2"
    assert negotiate_heart_beat("10000,10000") == (25000, 25000)


def test_webstomp_client_session():
    """webstomp-client 1.2.6 never escapes (raw ':' in values) and splits frames over 16 KiB across messages."""
    big = b"SEND\ndestination:/app/big\ncontent-length:20000\n\n" + b"x" * 20000 + b"\x00"
    frames = decode_messages(
        "CONNECT\npasscode:TICKET\naccept-version:1.2\nheart-beat:10000,10000\n\n\x00",
        f"SUBSCRIBE\ncursor:{CURSOR}\nid:sub-1796115575424-576\ndestination:/user/queue/notifications\n\n\x00",
        "ACK\nid:e1:7\nsubscription:sub-0\n\n\x00",
        "SEND\nnote:x:y\ndestination:/app/a:b\ncontent-length:3\n\nhé\x00",
        big[:16384],
        big[16384:],
        "\n",
        "DISCONNECT\nreceipt:bye\n\n\x00",
    )
    assert [frame.command for frame in frames] == ["CONNECT", "SUBSCRIBE", "ACK", "SEND", "SEND", "", "DISCONNECT"]
    assert frames[0].get("accept-version") == "1.2"
    assert frames[2].headers == (("id", "e1:7"), ("subscription", "sub-0"))
    assert frames[3].headers == (("note", "x:y"), ("destination", "/app/a:b"), ("content-length", "3"))
    assert frames[4].body == b"x" * 20000


def test_webstomp_client_in_binary_mode_without_a_subprotocol():
    """webstomp-client over SockJS (no subprotocol) asks for 1.2 alone, which is what it gets."""
    (connect,) = decode_messages(b"CONNECT\naccept-version:1.2\nheart-beat:10000,10000\n\n\x00")
    assert negotiate_version(connect.get("accept-version"), select_subprotocol([])) == "1.2"


def test_stomp_py_session():
    """stomp.py 8.2 WSStompConnection: STOMP (not CONNECT) with sorted headers, `\\c` escapes, `\\n` heart-beats."""
    frames = decode_messages(
        b"STOMP\naccept-version:1.2\nheart-beat:10000,10000\nhost:127.0.0.1\npasscode:TICKET\n\n\x00",
        b"SUBSCRIBE\nack:client-individual\ncursor:0000000000010000000000a2\ndestination:/user/queue/notifications"
        b"\nid:1\nreceipt:r-1\n\n\x00",
        b"ACK\nid:e1\\c7\n\n\x00",
        b"NACK\nid:e1\\c8\n\n\x00",
        b'SEND\ncontent-length:11\ncontent-type:application/json\ndestination:/app/echo\n\n{"a":"h\xc3\xa9"}\x00',
        b"\n",
        b"UNSUBSCRIBE\nid:1\n\n\x00",
        b"DISCONNECT\nreceipt:bye\n\n\x00",
    )
    assert frames[0] == StompFrame(
        "STOMP",
        (("accept-version", "1.2"), ("heart-beat", "10000,10000"), ("host", "127.0.0.1"), ("passcode", "TICKET")),
    )
    assert frames[1].get("ack") == "client-individual" and frames[1].get("cursor") == CURSOR
    assert frames[2] == StompFrame("ACK", (("id", "e1:7"),))
    assert frames[4].body == '{"a":"hé"}'.encode() and frames[4].get("content-type") == "application/json"
    assert frames[5] is HEARTBEAT
    assert [frame.command for frame in frames[6:]] == ["UNSUBSCRIBE", "DISCONNECT"]


def test_stomp_py_offers_no_subprotocol():
    """stomp.py's WebSocket offers no subprotocol: only /ws/stomp/ takes it, and its CONNECT says 1.2."""
    assert select_subprotocol([]) is None
    assert negotiate_version("1.2") == "1.2"


def test_an_ack_echoed_without_unescaping_decodes_to_the_value_sent():
    """webstomp-client reads MESSAGE headers raw and echoes `ack` as is: the escaped text decodes back."""
    wire = encode(server_frames.message("/user/queue/notifications", "sub-0", "e1", CURSOR, b"{}", ack="e1:x\\y"))
    raw_ack = next(line for line in wire.split(b"\n") if line.startswith(b"ack:"))[4:]
    (ack,) = decode_messages(b"ACK\nid:" + raw_ack + b"\nsubscription:sub-0\n\n\x00")
    assert raw_ack == b"e1\\cx\\\\y" and ack.get("id") == "e1:x\\y"
