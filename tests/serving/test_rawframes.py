"""Event frames written straight to the socket: valid RFC 6455 frames, in order, and daphne's path when unusual."""

import socket
from types import SimpleNamespace

import pytest
from twisted.internet import tcp
from twisted.protocols.tls import TLSMemoryBIOProtocol
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from notifications.serving import rawframes


class FakeTransport:
    """What the module reads of a Twisted TCP transport, over a real socket (the test reads the other end)."""

    def __init__(self, sock: socket.socket):
        self.socket = sock
        self.dataBuffer, self.offset, self._tempDataLen = b"", 0, 0
        self.disconnecting = False
        self.TLS = False
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)
        self._tempDataLen += len(data)


def open_protocol(sock: socket.socket, **overrides):
    fields = {"state": rawframes._OPEN, "_perMessageCompress": None, "send_queue": [], "maxMessagePayloadSize": 0}
    return SimpleNamespace(transport=FakeTransport(sock), **{**fields, **overrides})


@pytest.fixture
def pair():
    server, client = socket.socketpair()
    server.setblocking(False)
    yield server, client
    server.close()
    client.close()


def read_messages(client: socket.socket, expected: int) -> list[str]:
    """Parse what arrived as a WebSocket client would (websockets' parser rejects any malformed frame)."""
    reader = StreamReader()
    client.settimeout(5)
    messages: list[str] = []
    parser = None
    while len(messages) < expected:
        reader.feed_data(client.recv(1 << 20))
        while True:
            parser = parser or Frame.parse(reader.read_exact, mask=False)
            try:
                next(parser)  # waits for more bytes: receive them, then resume the same parse
                break
            except StopIteration as parsed:
                frame, parser = parsed.value, None
            assert frame.opcode is Opcode.TEXT and frame.fin
            messages.append(frame.data.decode("utf-8"))
    return messages


@pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 65535, 65536, 200_000])
def test_a_frame_of_any_length_parses_as_one_text_message(pair, length):
    """The three length encodings (7 bits, 16, 64) each carry the payload exactly."""
    server, client = pair
    text = "é" * (length // 2) + "x" * (length % 2)
    client_reads = []
    protocol = open_protocol(server)
    assert rawframes.send_text(protocol, text)
    # What the kernel did not take went to Twisted's buffer: hand it over as Twisted would.
    for chunk in protocol.transport.written:
        client_reads.append(chunk)
    server.setblocking(True)
    for chunk in client_reads:
        server.sendall(chunk)
    assert read_messages(client, 1) == [text]


def test_frames_keep_their_order_when_twisted_holds_bytes_already(pair):
    """Once Twisted's buffer holds bytes, later frames queue behind them instead of jumping ahead."""
    server, client = pair
    protocol = open_protocol(server)
    assert rawframes.send_text(protocol, "first")
    protocol.transport._tempDataLen = 1  # Twisted now holds something unsent
    assert rawframes.send_text(protocol, "second")
    assert protocol.transport.written == [rawframes.text_frame(b"second")]
    assert read_messages(client, 1) == ["first"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"state": 2},  # autobahn STATE_CLOSING
        {"_perMessageCompress": object()},
        {"send_queue": [(b"x", False)]},
    ],
)
def test_a_socket_not_plainly_open_takes_daphnes_path(pair, overrides):
    server, _ = pair
    protocol = open_protocol(server, **overrides)
    assert not rawframes.send_text(protocol, "hello")
    assert protocol.transport.written == []


def test_tls_a_closing_transport_and_a_full_buffer_take_daphnes_path(pair, settings):
    """Those are the cases daphne's path (and backpressure's bound) must see."""
    server, _ = pair
    settings.NOTIFY_MAX_SOCKET_BUFFER_BYTES = 10
    for change in ({"TLS": True}, {"disconnecting": True}, {"_tempDataLen": 11}):
        protocol = open_protocol(server)
        vars(protocol.transport).update(change)
        assert not rawframes.send_text(protocol, "hello"), change


def test_a_payload_past_autobahns_limit_is_left_to_autobahn(pair):
    server, _ = pair
    assert not rawframes.send_text(open_protocol(server, maxMessagePayloadSize=4), "hello")


def test_a_reset_connection_leaves_the_frame_to_twisted(pair):
    """The kernel refuses: Twisted's write gets the frame, meets the error itself and closes the connection."""
    server, client = pair
    client.close()
    protocol = open_protocol(server)
    for _ in range(3):
        assert rawframes.send_text(protocol, "hello")
    assert rawframes.text_frame(b"hello") in protocol.transport.written


def tcp_connection(sock: socket.socket) -> tcp.Connection:
    """A real Twisted TCP connection over `sock` (a stand-in reactor: none is installed in the test process)."""
    return tcp.Connection(sock, protocol=None, reactor=SimpleNamespace())


def test_only_a_websocket_over_a_plain_tcp_connection_gets_the_extension(pair):
    """Offered to WebSocket scopes on TCP connections; never to HTTP, nor through daphne's own TLS."""
    server, _ = pair
    plain = SimpleNamespace(transport=tcp_connection(server))
    # TLS wraps the connection and forwards `socket`, `TLS` and the buffer fields to it: it looks plain.
    wrapper = TLSMemoryBIOProtocol.__new__(TLSMemoryBIOProtocol)
    wrapper.socket, wrapper.TLS = server, False
    tls = SimpleNamespace(transport=wrapper)
    started_tls = SimpleNamespace(transport=tcp_connection(server))
    started_tls.transport.TLS = True
    cases = [(plain, "websocket"), (plain, "http"), (tls, "websocket"), (started_tls, "websocket")]
    scopes = [{"type": kind} for _, kind in cases]
    for (protocol, _), scope in zip(cases, scopes, strict=True):
        rawframes.offer_protocol(protocol, scope)
    assert [rawframes.protocol_of(scope) for scope in scopes] == [plain, None, None, None]


def test_an_application_that_reframes_its_messages_gets_a_scope_without_the_fast_path(pair):
    """SockJS wraps every frame (`a[...]`): its adapters must not write theirs straight to the socket."""
    server, _ = pair
    protocol = SimpleNamespace(transport=tcp_connection(server))
    scope = {"type": "websocket", "extensions": {"websocket.http.response": {}}}
    rawframes.offer_protocol(protocol, scope)
    stripped = rawframes.without_raw_frames(scope)
    assert rawframes.protocol_of(stripped) is None
    assert stripped["extensions"] == {"websocket.http.response": {}}
    assert rawframes.protocol_of(scope) is protocol, "the server's own scope is left as it was"


def test_a_binary_frame_carries_mqtt_bytes_as_they_are(pair):
    """MQTT packets go as binary frames (opcode 2), byte for byte."""
    server, client = pair
    packet = bytes(range(256)) * 3
    assert rawframes.send_binary(open_protocol(server), packet)
    reader = StreamReader()
    client.settimeout(5)
    while len(reader.buffer) < len(packet) + 4:
        reader.feed_data(client.recv(1 << 16))
    parser = Frame.parse(reader.read_exact, mask=False)
    with pytest.raises(StopIteration) as parsed:
        next(parser)
    assert parsed.value.value.opcode is Opcode.BINARY and parsed.value.value.data == packet
