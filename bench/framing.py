"""The client side of STOMP and MQTT as the load generator speaks them: the few frames it sends and reads.

The server's codecs (`notifications/protocol/stomp`, `.../mqtt`) decode what
clients send, not what servers send, so the load generator frames its own
side here: pure functions, no I/O, only what a subscriber needs. Stock
clients are tested against the server elsewhere (tests/integration/).
"""

# --- STOMP 1.2 (PROTOCOL section 4.1) ------------------------------------------------------

STOMP_SUBPROTOCOLS = ["v12.stomp", "v11.stomp"]
STOMP_DESTINATION = "/user/queue/notifications"


def stomp_frame(command: str, headers: dict[str, str], body: str = "") -> str:
    """Return a client frame as the text of one WebSocket message (header values without ':' or EOL)."""
    lines = [command, *(f"{name}:{value}" for name, value in headers.items())]
    return "\n".join(lines) + "\n\n" + body + "\x00"


def stomp_connect(passcode: str | None, login: str | None = None, host: str = "localhost") -> str:
    """CONNECT for 1.2 without heart-beats, with a ticket (or a broker password) in `passcode` when given."""
    headers = {"accept-version": "1.2,1.1", "host": host, "heart-beat": "0,0"}
    if login is not None:
        headers["login"] = login
    if passcode is not None:
        headers["passcode"] = passcode
    return stomp_frame("CONNECT", headers)


def stomp_subscribe(sub_id: str, destination: str = STOMP_DESTINATION, receipt: str | None = None) -> str:
    headers = {"id": sub_id, "destination": destination, "ack": "auto"}
    if receipt is not None:
        headers["receipt"] = receipt
    return stomp_frame("SUBSCRIBE", headers)


def stomp_frames(text: str) -> list[tuple[str, dict[str, str], str]]:
    """Return every frame of one server message as (command, headers, body); heart-beats (EOLs) are skipped.

    The body ends at the NUL: event bodies are JSON, which never holds a raw
    NUL. Header values are unescaped only as far as this client needs (none
    of the values it reads contain an escape).
    """
    frames = []
    position, size = 0, len(text)
    while position < size:
        while position < size and text[position] in "\r\n":
            position += 1
        if position >= size:
            break
        head_end = text.find("\n\n", position)
        if head_end < 0:
            raise ValueError(f"STOMP frame without a blank line after its headers: {text[position : position + 80]!r}")
        lines = text[position:head_end].replace("\r", "").split("\n")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.setdefault(name, value)  # STOMP 1.2: the first of repeated headers counts
        body_end = text.find("\x00", head_end + 2)
        if body_end < 0:
            raise ValueError(f"STOMP frame without its NUL: {lines[0]!r}")
        frames.append((lines[0], headers, text[head_end + 2 : body_end]))
        position = body_end + 1
    return frames


# --- MQTT 3.1.1 (PROTOCOL section 4.3) -----------------------------------------------------

MQTT_SUBPROTOCOLS = ["mqtt"]
MQTT_FILTER = "notify/me/#"
CONNACK, PUBLISH, PUBACK, SUBACK, PINGRESP = 2, 3, 4, 9, 13
SUBSCRIPTION_FAILURE = 0x80


def _length(value: int) -> bytes:
    out = bytearray()
    while True:
        value, digit = divmod(value, 128)
        out.append(digit | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _string(value: bytes) -> bytes:
    return len(value).to_bytes(2, "big") + value


def _packet(first_byte: int, body: bytes) -> bytes:
    return bytes((first_byte,)) + _length(len(body)) + body


def mqtt_connect(password: str, client_id: str = "", keep_alive_secs: int = 0) -> bytes:
    """CONNECT, clean session 1, with the ticket as password (3.1.1 needs a user name beside it; it is ignored)."""
    flags = 0x80 | 0x40 | 0x02
    header = _string(b"MQTT") + bytes((4, flags)) + keep_alive_secs.to_bytes(2, "big")
    payload = _string(client_id.encode()) + _string(b"bench") + _string(password.encode())
    return _packet(0x10, header + payload)


def mqtt_subscribe(packet_id: int, topic_filter: str = MQTT_FILTER, qos: int = 0) -> bytes:
    return _packet(0x82, packet_id.to_bytes(2, "big") + _string(topic_filter.encode()) + bytes((qos,)))


def mqtt_puback(packet_id: int) -> bytes:
    return bytes((PUBACK << 4, 2)) + packet_id.to_bytes(2, "big")


class MqttReader:
    """An incremental reader of server packets: feed it each binary message, get whole packets back.

    A packet is (type, flags, body) with the fixed header removed; a PUBLISH
    is split further by `publish_parts`.
    """

    def __init__(self) -> None:
        self.buffer = b""

    def feed(self, data: bytes) -> list[tuple[int, int, bytes]]:
        buffer = self.buffer + data if self.buffer else data
        packets, position, size = [], 0, len(buffer)
        while position + 2 <= size:
            first = buffer[position]
            length, multiplier, cursor = 0, 1, position + 1
            while True:
                if cursor >= size:
                    self.buffer = buffer[position:]
                    return packets
                digit = buffer[cursor]
                cursor += 1
                length += (digit & 0x7F) * multiplier
                if not digit & 0x80:
                    break
                multiplier *= 128
                if multiplier > 128**3:
                    raise ValueError("MQTT remaining length longer than four bytes")
            if cursor + length > size:
                break
            packets.append((first >> 4, first & 0x0F, buffer[cursor : cursor + length]))
            position = cursor + length
        self.buffer = buffer[position:]
        return packets


def publish_parts(flags: int, body: bytes) -> tuple[str, int, int | None, bool, bytes]:
    """Return a PUBLISH's topic, QoS, packet id (None at QoS 0), DUP flag and payload."""
    qos = (flags >> 1) & 0x03
    topic_end = 2 + int.from_bytes(body[:2], "big")
    topic = body[2:topic_end].decode("utf-8")
    if qos:
        packet_id = int.from_bytes(body[topic_end : topic_end + 2], "big")
        return topic, qos, packet_id, bool(flags & 0x08), body[topic_end + 2 :]
    return topic, 0, None, False, body[topic_end:]
