"""An incremental decoder of the MQTT 3.1.1 packets a client sends (sans-I/O: feed bytes, get packets).

Over WebSocket a packet may span several messages and one message may carry
several packets, so bytes are buffered until a packet is whole. A packet's
size is known from its fixed header: one over the limit is refused before
its body is buffered. Every violation raises an `MqttError`, and the decoder
refuses all later input: the connection is to be closed.
"""

from notifications.protocol.mqtt import packets
from notifications.protocol.mqtt.errors import ConnectRefused, MqttError, PacketTooBig

MAX_LENGTH_BYTES = 4
MAX_CLIENT_ID_CHARS = 200  # MqttSession.client_id
# The fixed-header flags each client packet type must carry (MQTT-2.2.2-1); PUBLISH has its own.
_REQUIRED_FLAGS = {
    packets.CONNECT: 0,
    packets.PUBACK: 0,
    packets.SUBSCRIBE: 2,
    packets.UNSUBSCRIBE: 2,
    packets.PINGREQ: 0,
    packets.DISCONNECT: 0,
}


class _Reader:
    """Read the fields of one packet's body; running past its end is a malformed packet."""

    def __init__(self, body: bytes):
        self.body, self.at = body, 0

    def take(self, count: int) -> bytes:
        if self.at + count > len(self.body):
            raise MqttError("packet ends inside a field")
        chunk = self.body[self.at : self.at + count]
        self.at += count
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def uint16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def binary(self) -> bytes:
        return self.take(self.uint16())

    def string(self) -> str:
        """Return a UTF-8 string field: well-formed UTF-8 without U+0000 (MQTT-1.5.3-1, -2)."""
        try:
            text = self.binary().decode("utf-8")
        except UnicodeDecodeError:
            raise MqttError("string is not well-formed UTF-8") from None
        if "\x00" in text:
            raise MqttError("string contains U+0000")
        return text

    def packet_id(self) -> int:
        packet_id = self.uint16()
        if packet_id == 0:
            raise MqttError("packet identifier 0")
        return packet_id

    @property
    def left(self) -> int:
        return len(self.body) - self.at

    def finish(self) -> None:
        if self.left:
            raise MqttError("bytes past the end of the packet's fields")


class Decoder:
    """Turn a client's byte stream into packets; `feed` returns those completed by the new bytes."""

    def __init__(self, max_packet_bytes: int):
        self.max_packet_bytes = max_packet_bytes
        self._buffer = bytearray()
        self._failed = False

    def feed(self, data: bytes) -> list[packets.ClientPacket]:
        """Return the packets completed by `data`; raise MqttError (and refuse later input) on a violation."""
        if self._failed:
            raise MqttError("input after a refused packet")
        self._buffer += data
        try:
            return list(self._drain())
        except MqttError:
            self._failed = True
            self._buffer.clear()
            raise

    def _drain(self):
        while (header := self._fixed_header()) is not None:
            first_byte, header_size, length = header
            if len(self._buffer) < header_size + length:
                return
            body = bytes(self._buffer[header_size : header_size + length])
            del self._buffer[: header_size + length]
            yield parse_packet(first_byte >> 4, first_byte & 0x0F, body)

    def _fixed_header(self) -> tuple[int, int, int] | None:
        """Return (first byte, header size, remaining length), or None until the header is whole."""
        length, multiplier = 0, 1
        for index in range(1, MAX_LENGTH_BYTES + 1):
            if index >= len(self._buffer):
                return None
            digit = self._buffer[index]
            length += (digit & 0x7F) * multiplier
            multiplier *= 128
            if not digit & 0x80:
                if index + 1 + length > self.max_packet_bytes:
                    raise PacketTooBig(f"packet of {index + 1 + length} bytes")
                return self._buffer[0], index + 1, length
        raise MqttError("remaining length longer than four bytes")


def parse_packet(packet_type: int, flags: int, body: bytes) -> packets.ClientPacket:
    """Return the packet of one whole fixed header's type, flags and body, or raise MqttError."""
    if packet_type == packets.PUBLISH:
        return _publish(flags, _Reader(body))
    parser = _PARSERS.get(packet_type)
    if parser is None:
        raise MqttError(f"packet type {packet_type} is not one a client sends at QoS 0 or 1")
    if flags != _REQUIRED_FLAGS[packet_type]:
        raise MqttError(f"reserved flags {flags:#x} on packet type {packet_type}")
    return parser(_Reader(body))


def _connect(reader: _Reader) -> packets.Connect:
    name, level = reader.string(), reader.byte()
    if name not in ("MQTT", "MQIsdp"):
        raise MqttError(f"protocol name {name!r}")
    if name != "MQTT" or level != 4:
        raise ConnectRefused(packets.UNACCEPTABLE_PROTOCOL_VERSION, f"protocol {name} level {level}")
    flags, keep_alive = reader.byte(), reader.uint16()
    if flags & 0x01:
        raise MqttError("reserved CONNECT flag set")
    will, will_qos, will_retain = bool(flags & 0x04), (flags >> 3) & 0x03, bool(flags & 0x20)
    if will_qos == 3 or (not will and (will_qos or will_retain)):
        raise MqttError("will QoS or retain without a valid will")
    has_username, has_password = bool(flags & 0x80), bool(flags & 0x40)
    if has_password and not has_username:
        raise MqttError("password without user name")
    client_id = reader.string()
    will_topic = None
    if will:
        will_topic = reader.string()
        reader.binary()
    username = reader.string() if has_username else None
    password = reader.binary() if has_password else None
    reader.finish()
    if len(client_id) > MAX_CLIENT_ID_CHARS:
        raise ConnectRefused(packets.IDENTIFIER_REJECTED, "client id too long")
    return packets.Connect(client_id, bool(flags & 0x02), keep_alive, username, password, will_topic)


def _publish(flags: int, reader: _Reader) -> packets.Publish:
    qos = (flags >> 1) & 0x03
    if qos == 3:
        raise MqttError("PUBLISH with QoS 3")
    topic = reader.string()
    packet_id = reader.packet_id() if qos else None
    return packets.Publish(topic, qos, packet_id)


def _puback(reader: _Reader) -> packets.Puback:
    packet_id = reader.packet_id()
    reader.finish()
    return packets.Puback(packet_id)


def _subscribe(reader: _Reader) -> packets.Subscribe:
    packet_id, filters = reader.packet_id(), []
    while reader.left:
        topic_filter, qos = reader.string(), reader.byte()
        if qos > 2:
            raise MqttError(f"requested QoS byte {qos:#x}")
        filters.append((topic_filter, qos))
    if not filters:
        raise MqttError("SUBSCRIBE without a topic filter")
    return packets.Subscribe(packet_id, tuple(filters))


def _unsubscribe(reader: _Reader) -> packets.Unsubscribe:
    packet_id, filters = reader.packet_id(), []
    while reader.left:
        filters.append(reader.string())
    if not filters:
        raise MqttError("UNSUBSCRIBE without a topic filter")
    return packets.Unsubscribe(packet_id, tuple(filters))


def _empty(packet: packets.ClientPacket):
    def parse(reader: _Reader) -> packets.ClientPacket:
        reader.finish()
        return packet

    return parse


_PARSERS = {
    packets.CONNECT: _connect,
    packets.PUBACK: _puback,
    packets.SUBSCRIBE: _subscribe,
    packets.UNSUBSCRIBE: _unsubscribe,
    packets.PINGREQ: _empty(packets.Pingreq()),
    packets.DISCONNECT: _empty(packets.Disconnect()),
}
