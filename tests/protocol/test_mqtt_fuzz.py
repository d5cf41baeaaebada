"""Hypothesis against the MQTT decoder: hostile bytes fail only with MqttError, memory stays bounded, and
every client packet decodes the same however the bytes are split across WebSocket messages.

Pure: no server, so it runs with the unit tests.
"""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifications.protocol.mqtt.decoder import Decoder
from notifications.protocol.mqtt.errors import MqttError

from .test_mqtt_decoder import DISCONNECT, PINGREQ, connect, puback, subscribe, unsubscribe

LIMIT = 512
FUZZ = settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# Pieces that steer random bytes into the decoder's corners, mixed with plain random bytes.
TOKENS = [
    connect(),
    connect(password=b"t", username=b"u"),
    subscribe(1, ("notify/me/events", 1)),
    unsubscribe(2, "notify/me/#"),
    puback(3),
    PINGREQ,
    DISCONNECT,
    b"\xff\xff\xff\xff",
    b"\x80",
    b"\x00",
    b"\x00\x04MQTT\x04",
    b"\xed\xa0\x80",
]
mqtt_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=20)
chunk = st.one_of(st.sampled_from(TOKENS), st.binary(max_size=64))
client_packet = st.one_of(
    st.builds(connect, mqtt_text, st.booleans(), st.integers(0, 65535)),
    st.builds(
        lambda pid, filters: subscribe(pid, *filters),
        st.integers(1, 65535),
        st.lists(
            st.tuples(mqtt_text, st.integers(0, 2)),
            min_size=1,
            max_size=4,
        ),
    ),
    st.builds(puback, st.integers(1, 65535)),
    st.just(PINGREQ),
    st.just(DISCONNECT),
)


@FUZZ
@given(st.lists(chunk, max_size=20))
def test_hostile_bytes_raise_only_mqtt_error_and_the_buffer_stays_bounded(chunks):
    """Whatever arrives, the decoder returns packets or raises MqttError; it never holds more than the limit."""
    decoder = Decoder(LIMIT)
    for data in chunks:
        try:
            decoder.feed(data)
        except MqttError:
            return
        assert len(decoder._buffer) <= LIMIT + 64


@FUZZ
@given(st.lists(client_packet, min_size=1, max_size=6), st.data())
def test_client_packets_decode_the_same_however_they_are_split(stream, data):
    """Well-formed packets decode to the same list whether fed whole or cut at random points."""
    whole = b"".join(stream)
    expected = Decoder(1 << 20).feed(whole)
    assert len(expected) == len(stream)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(whole)), max_size=8)))
    decoder, decoded, start = Decoder(1 << 20), [], 0
    for cut in [*cuts, len(whole)]:
        decoded += decoder.feed(whole[start:cut])
        start = cut
    assert decoded == expected
