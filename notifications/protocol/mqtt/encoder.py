"""The packets the server sends (CONNACK, PUBLISH, SUBACK, UNSUBACK, PINGRESP), as bytes."""

from notifications.protocol.mqtt import packets

MAX_REMAINING_LENGTH = 268_435_455


def remaining_length(length: int) -> bytes:
    """Return the variable-length encoding of a remaining length (1 to 4 bytes)."""
    if not 0 <= length <= MAX_REMAINING_LENGTH:
        raise ValueError(f"remaining length {length} does not fit MQTT's four bytes")
    out = bytearray()
    while True:
        length, digit = divmod(length, 128)
        out.append(digit | (0x80 if length else 0))
        if not length:
            return bytes(out)


def _packet(first_byte: int, body: bytes) -> bytes:
    return bytes((first_byte,)) + remaining_length(len(body)) + body


def _string(text: str) -> bytes:
    data = text.encode("utf-8")
    return len(data).to_bytes(2, "big") + data


def connack(session_present: bool, return_code: int) -> bytes:
    # Session present is 0 whenever the return code is not 0 (MQTT-3.2.2-4).
    flags = 1 if session_present and return_code == packets.ACCEPTED else 0
    return _packet(packets.CONNACK << 4, bytes((flags, return_code)))


def publish(topic: str, payload: bytes, qos: int, packet_id: int | None = None, dup: bool = False) -> bytes:
    """Return a PUBLISH (never retained); `packet_id` is required at QoS 1."""
    flags = (0x08 if dup and qos else 0) | (qos << 1)
    body = _string(topic) + (packet_id.to_bytes(2, "big") if qos else b"") + payload
    return _packet(packets.PUBLISH << 4 | flags, body)


def suback(packet_id: int, return_codes: list[int]) -> bytes:
    return _packet(packets.SUBACK << 4, packet_id.to_bytes(2, "big") + bytes(return_codes))


def unsuback(packet_id: int) -> bytes:
    return _packet(packets.UNSUBACK << 4, packet_id.to_bytes(2, "big"))


def pingresp() -> bytes:
    return bytes((packets.PINGRESP << 4, 0))
