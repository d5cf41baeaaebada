"""The load generator's client side of STOMP and MQTT (bench/framing.py) reads what the server's encoders write
and writes what the server's decoders accept."""

import json

from bench import framing
from notifications.protocol.mqtt import encoder
from notifications.protocol.mqtt.decoder import Decoder
from notifications.protocol.stomp import server_frames
from notifications.protocol.stomp.decoder import StompDecoder
from notifications.protocol.stomp.frames import encode

EVENT = {"type": "event", "id": "9b4d5c1e-0000-4000-8000-000000000001", "cursor": "0" * 23 + "1", "body": "é"}


def test_a_server_message_frame_reads_as_its_event_with_heart_beats_between():
    """A MESSAGE as the adapter encodes it, after a heart-beat EOL, gives its headers and the event's JSON body."""
    body = json.dumps(EVENT, ensure_ascii=False).encode()
    message = server_frames.message("/user/queue/notifications", "0", EVENT["id"], EVENT["cursor"], body)
    text = "\n" + encode(message, "1.2").decode() + "\n" + encode(server_frames.receipt("r"), "1.2").decode()
    [(command, headers, got), (second, receipt, _)] = framing.stomp_frames(text)
    assert command == "MESSAGE" and headers["message-id"] == EVENT["id"] and headers["cursor"] == EVENT["cursor"]
    assert json.loads(got) == EVENT
    assert (second, receipt["receipt-id"]) == ("RECEIPT", "r")
    assert framing.stomp_frames("\n") == []


def test_the_client_stomp_frames_decode_on_the_server():
    """CONNECT with the ticket as passcode and SUBSCRIBE with ack auto and a receipt are frames the server reads."""
    decoder = StompDecoder(65536)
    [connect] = decoder.feed(framing.stomp_connect("ticket-value"))
    assert connect.command == "CONNECT" and connect.get("passcode") == "ticket-value"
    assert connect.get("heart-beat") == "0,0"
    decoder.version = "1.2"
    [subscribe] = decoder.feed(framing.stomp_subscribe("0", receipt="subscribed"))
    assert (subscribe.get("destination"), subscribe.get("ack"), subscribe.get("receipt")) == (
        "/user/queue/notifications",
        "auto",
        "subscribed",
    )


def test_mqtt_publishes_split_across_messages_read_whole():
    """PUBLISH packets at QoS 0 and 1, cut at every byte and joined two to a message, come out whole and in order."""
    payload = json.dumps(EVENT).encode() * 3  # past 127 bytes: a two-byte remaining length
    stream = encoder.publish("notify/announcements", payload, 0) + encoder.publish(
        "notify/me/requests/x", payload, 1, 7, True
    )
    for cut in range(1, len(stream)):
        reader = framing.MqttReader()
        packets = reader.feed(stream[:cut]) + reader.feed(stream[cut:])
        assert [kind for kind, _, _ in packets] == [framing.PUBLISH, framing.PUBLISH]
        first, second = (framing.publish_parts(flags, body) for _, flags, body in packets)
        assert first == ("notify/announcements", 0, None, False, payload)
        assert second == ("notify/me/requests/x", 1, 7, True, payload)
        assert reader.buffer == b""


def test_the_client_mqtt_packets_decode_on_the_server():
    """CONNECT with the ticket as password, SUBSCRIBE `notify/me/#` and PUBACK are packets the server reads."""
    decoder = Decoder(65536)
    connect, subscribe, puback = decoder.feed(
        framing.mqtt_connect("ticket-value") + framing.mqtt_subscribe(1, qos=1) + framing.mqtt_puback(7)
    )
    assert connect.kind == "connect" and connect.password == b"ticket-value" and connect.clean_session
    assert connect.keep_alive_secs == 0
    assert (
        subscribe.kind == "subscribe" and subscribe.packet_id == 1 and tuple(subscribe.filters) == (("notify/me/#", 1),)
    )
    assert puback.kind == "puback" and puback.packet_id == 7
