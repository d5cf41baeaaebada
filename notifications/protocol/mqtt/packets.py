"""The MQTT 3.1.1 packets a client sends, as decoded; and the packet type numbers."""

from dataclasses import dataclass

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 10, 11, 12, 13, 14

# CONNACK return codes (MQTT 3.1.1 section 3.2.2.3).
ACCEPTED = 0
UNACCEPTABLE_PROTOCOL_VERSION = 1
IDENTIFIER_REJECTED = 2
SERVER_UNAVAILABLE = 3
NOT_AUTHORIZED = 5
SUBSCRIPTION_FAILURE = 0x80


@dataclass(frozen=True)
class Connect:
    client_id: str
    clean_session: bool
    keep_alive_secs: int
    username: str | None = None
    password: bytes | None = None
    will_topic: str | None = None
    kind = "connect"


@dataclass(frozen=True)
class Publish:
    topic: str
    qos: int
    packet_id: int | None
    kind = "publish"


@dataclass(frozen=True)
class Puback:
    packet_id: int
    kind = "puback"


@dataclass(frozen=True)
class Subscribe:
    packet_id: int
    filters: tuple[tuple[str, int], ...]  # (topic filter, requested QoS)
    kind = "subscribe"


@dataclass(frozen=True)
class Unsubscribe:
    packet_id: int
    filters: tuple[str, ...]
    kind = "unsubscribe"


@dataclass(frozen=True)
class Pingreq:
    kind = "pingreq"


@dataclass(frozen=True)
class Disconnect:
    kind = "disconnect"


ClientPacket = Connect | Publish | Puback | Subscribe | Unsubscribe | Pingreq | Disconnect
