"""The MQTT 3.1.1 decoder: the client packets, framing across messages, and every refusal of section 4.3."""

import pytest

from notifications.protocol.mqtt import encoder, packets
from notifications.protocol.mqtt.decoder import Decoder
from notifications.protocol.mqtt.errors import ConnectRefused, MqttError, PacketTooBig

LIMIT = 65536


def string(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return len(data).to_bytes(2, "big") + data


def packet(first_byte: int, body: bytes) -> bytes:
    return bytes((first_byte,)) + encoder.remaining_length(len(body)) + body


def connect(
    client_id: str = "c1",
    clean: bool = True,
    keep_alive: int = 60,
    username: bytes | None = None,
    password: bytes | None = None,
    name: str = "MQTT",
    level: int = 4,
    flags: int | None = None,
) -> bytes:
    """Return a CONNECT as a client writes it."""
    if flags is None:
        flags = (0x02 if clean else 0) | (0x80 if username is not None else 0) | (0x40 if password is not None else 0)
    body = string(name) + bytes((level, flags)) + keep_alive.to_bytes(2, "big") + string(client_id)
    body += (string(username) if username is not None else b"") + (string(password) if password is not None else b"")
    return packet(0x10, body)


def subscribe(packet_id: int, *filters: tuple[str | bytes, int], flags: int = 2) -> bytes:
    return packet(0x80 | flags, packet_id.to_bytes(2, "big") + b"".join(string(f) + bytes((q,)) for f, q in filters))


def unsubscribe(packet_id: int, *filters: str) -> bytes:
    return packet(0xA2, packet_id.to_bytes(2, "big") + b"".join(string(f) for f in filters))


def puback(packet_id: int) -> bytes:
    return packet(0x40, packet_id.to_bytes(2, "big"))


PINGREQ = bytes((0xC0, 0))
DISCONNECT = bytes((0xE0, 0))


def decode(data: bytes, limit: int = LIMIT) -> list:
    return Decoder(limit).feed(data)


def test_a_connect_decodes_with_its_flags_keep_alive_and_credentials():
    """Client id, clean session, keep-alive, user name and password (the ticket) come out of a CONNECT."""
    (decoded,) = decode(connect("phone", clean=False, keep_alive=30, username=b"ada", password=b"t1ck3t"))
    assert decoded == packets.Connect("phone", False, 30, "ada", b"t1ck3t")


def test_packets_split_across_messages_or_packed_in_one_decode_the_same():
    """A packet may span WebSocket messages and one message may hold several: both decode incrementally."""
    stream = connect() + subscribe(7, ("notify/me/events", 1), ("notify/announcements", 0)) + PINGREQ + puback(3)
    expected = decode(stream)
    assert [p.kind for p in expected] == ["connect", "subscribe", "pingreq", "puback"]
    decoder = Decoder(LIMIT)
    one_byte_at_a_time = [p for byte in stream for p in decoder.feed(bytes((byte,)))]
    assert one_byte_at_a_time == expected
    assert expected[1] == packets.Subscribe(7, (("notify/me/events", 1), ("notify/announcements", 0)))


def test_unsubscribe_disconnect_and_a_client_publish_decode():
    """UNSUBSCRIBE, DISCONNECT, and a PUBLISH (which the adapter refuses) are recognised."""
    publish = packet(0x32, string("x/y") + (9).to_bytes(2, "big") + b"body")
    assert decode(unsubscribe(4, "a", "b") + DISCONNECT + publish) == [
        packets.Unsubscribe(4, ("a", "b")),
        packets.Disconnect(),
        packets.Publish("x/y", 1, 9),
    ]


@pytest.mark.parametrize(
    "level, name", [(3, "MQTT"), (5, "MQTT"), (3, "MQIsdp")], ids=["level-3", "level-5", "mqtt-3.1"]
)
def test_a_wrong_protocol_level_is_refused_with_return_code_1(level, name):
    """Only level 4 (3.1.1) is served: CONNACK return code 1 (unacceptable protocol version)."""
    with pytest.raises(ConnectRefused) as refused:
        decode(connect(name=name, level=level))
    assert refused.value.return_code == packets.UNACCEPTABLE_PROTOCOL_VERSION


def test_a_client_id_longer_than_a_session_row_holds_is_refused_with_return_code_2():
    """Client ids up to 200 characters are kept; longer: CONNACK return code 2 (identifier rejected)."""
    assert decode(connect("x" * 200))[0].client_id == "x" * 200
    with pytest.raises(ConnectRefused) as refused:
        decode(connect("x" * 201))
    assert refused.value.return_code == packets.IDENTIFIER_REJECTED


@pytest.mark.parametrize(
    "data",
    [
        bytes((0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x01)),  # remaining length in five bytes
        connect(name="HTTP"),  # not MQTT at all
        connect(flags=0x03),  # reserved CONNECT flag
        connect(flags=0x40 | 0x02, password=b"p"),  # password without user name
        connect(flags=0x02 | 0x18),  # will QoS 3 without a will
        packet(0x11, connect()[2:]),  # CONNECT with fixed-header flags
        subscribe(1, ("a", 0), flags=0),  # SUBSCRIBE must carry flags 0b0010
        subscribe(1, ("a", 3)),  # requested QoS 3
        subscribe(1, ("a", 0x41)),  # reserved bits of the requested QoS
        subscribe(0, ("a", 0)),  # packet identifier 0
        packet(0x82, (1).to_bytes(2, "big")),  # SUBSCRIBE without a filter
        packet(0xA2, (1).to_bytes(2, "big")),  # UNSUBSCRIBE without a filter
        subscribe(1, (b"notify/\x00", 0)),  # U+0000 in a topic
        subscribe(1, (b"notify/\xff", 0)),  # not UTF-8
        subscribe(1, (b"\xed\xa0\x80", 0)),  # an encoded surrogate
        packet(0x40, b"\x00"),  # PUBACK ending inside its packet id
        packet(0xC0, b"\x00"),  # PINGREQ with a body
        packet(0x36, string("t") + b"\x00\x01"),  # PUBLISH with QoS 3
        packet(0x20, b"\x00\x00"),  # CONNACK is the server's
        packet(0x62, b"\x00\x01"),  # PUBREL: no QoS 2 here
        bytes((0x00, 0)),  # reserved type 0
        bytes((0xF0, 0)),  # reserved type 15
    ],
    ids=lambda data: data[:6].hex(),
)
def test_malformed_packets_raise_mqtt_error(data):
    """Every violation of MQTT 3.1.1's packet rules raises MqttError (the adapter closes the connection)."""
    with pytest.raises(MqttError):
        decode(data)


def test_a_packet_over_the_limit_is_refused_from_its_header_before_its_body():
    """A fixed header announcing more than the frame limit raises PacketTooBig with no body buffered."""
    decoder = Decoder(1024)
    with pytest.raises(PacketTooBig):
        decoder.feed(bytes((0x82,)) + encoder.remaining_length(2000))
    assert len(decoder._buffer) == 0


def test_after_a_refusal_the_decoder_refuses_everything():
    """A stream that broke the protocol cannot be resynchronised: later bytes raise too."""
    decoder = Decoder(LIMIT)
    with pytest.raises(MqttError):
        decoder.feed(bytes((0xF0, 0)))
    with pytest.raises(MqttError):
        decoder.feed(PINGREQ)


def test_the_encoder_writes_the_server_packets_byte_for_byte():
    """CONNACK, PUBLISH at QoS 0 and 1 (with DUP), SUBACK with 0x80, UNSUBACK and PINGRESP as MQTT 3.1.1 has them."""
    assert encoder.connack(True, 0) == b"\x20\x02\x01\x00"
    assert encoder.connack(True, 5) == b"\x20\x02\x00\x05"  # never session present on a refusal
    assert encoder.publish("a/b", b"{}", 0) == b"\x30\x07\x00\x03a/b{}"
    assert encoder.publish("a/b", b"{}", 1, 258, dup=True) == b"\x3a\x09\x00\x03a/b\x01\x02{}"
    assert encoder.suback(10, [1, 0x80, 0]) == b"\x90\x05\x00\x0a\x01\x80\x00"
    assert encoder.unsuback(10) == b"\xb0\x02\x00\x0a"
    assert encoder.pingresp() == b"\xd0\x00"


@pytest.mark.parametrize("length", [0, 127, 128, 16383, 16384, 2097151, 2097152, 268435455])
def test_remaining_lengths_round_trip_at_every_width(length):
    """The variable-length encoding at the edges of one to four bytes decodes back to the same length."""
    encoded = encoder.remaining_length(length)
    assert len(encoded) == 1 + (length > 127) + (length > 16383) + (length > 2097151)
    decoder = Decoder(LIMIT * LIMIT)
    assert decoder._buffer == bytearray()
    decoder._buffer += bytes((0x82,)) + encoded
    assert decoder._fixed_header() == (0x82, 1 + len(encoded), length)
