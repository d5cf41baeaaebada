"""Why client bytes were refused; the adapter turns each into a close (and a CONNACK code where MQTT has one)."""


class MqttError(ValueError):
    """The client broke MQTT 3.1.1: the connection is closed (`code` is logged and counted)."""

    code = "malformed"


class PacketTooBig(MqttError):
    """A packet's remaining length exceeds the frame size limit."""

    code = "too_big"


class ConnectRefused(MqttError):
    """A well-formed CONNECT the server refuses with a CONNACK return code, then closes."""

    code = "connect_refused"

    def __init__(self, return_code: int, detail: str):
        super().__init__(detail)
        self.return_code = return_code


class UnexpectedPacket(MqttError):
    """A well-formed packet at the wrong time: before CONNECT, a second CONNECT."""

    code = "unexpected_packet"
