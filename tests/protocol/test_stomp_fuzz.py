"""Hypothesis against the STOMP codec: hostile bytes fail only with StompError, memory stays bounded,
and every frame the encoder can write decodes back to itself in both versions, however the bytes are split.

Pure: no server, so it runs with the unit tests.
"""

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from notifications.protocol.stomp.decoder import StompDecoder
from notifications.protocol.stomp.errors import StompError
from notifications.protocol.stomp.frames import (
    CLIENT_COMMANDS,
    COMMANDS_WITH_BODY,
    HEARTBEAT,
    SERVER_COMMANDS,
    StompFrame,
    encode,
)
from notifications.protocol.stomp.headers import UNESCAPED_COMMANDS

SMALL_LIMIT = 512
LARGE_LIMIT = 1024 * 1024
FUZZ = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# Pieces that steer random bytes into the decoder's corners, mixed with plain random bytes.
TOKENS = [
    *(command.encode() for command in CLIENT_COMMANDS | SERVER_COMMANDS),
    b"\n",
    b"\r\n",
    b"\r",
    b"\x00",
    b":",
    b"\\",
    b"\\c",
    b"\\n",
    b"\\r",
    b"\\t",
    b"content-length:",
    b"content-length:3",
    b"content-length:-1",
    b"content-length:99999999999",
    b"destination:/q",
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",
]
stomp_ish = st.lists(st.sampled_from(TOKENS) | st.binary(max_size=12), max_size=60).map(b"".join)
hostile_bytes = st.one_of(st.binary(max_size=2000), stomp_ish)
cut_points = st.lists(st.integers(min_value=0, max_value=600), max_size=20)
versions = st.sampled_from(["1.2", "1.1"])


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    """Return `data` cut at the given positions (taken modulo its length), in order."""
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    return [data[start:end] for start, end in zip([0, *points], [*points, len(data)], strict=True)]


@FUZZ
@given(data=hostile_bytes, cuts=cut_points, version=versions)
@example(data=b"SEND\n" + b"k:v\n" * 300, cuts=[], version="1.2")
@example(data=b"SEND\n\n" + b"x" * 600, cuts=[1, 7, 100], version="1.1")
@example(data=b"\n" * 5000, cuts=[3], version="1.2")
def test_hostile_bytes_fail_only_with_stomp_error_and_stay_bounded(data, cuts, version):
    """Whatever the bytes and their split, the decoder returns client frames or raises StompError, buffering
    no more than the frame limit."""
    decoder = StompDecoder(SMALL_LIMIT, version=version)
    try:
        for piece in split(data, cuts):
            for frame in decoder.feed(piece):
                assert frame is HEARTBEAT or frame.command in CLIENT_COMMANDS
                assert len(frame.body) < SMALL_LIMIT
            assert decoder.buffered_bytes <= SMALL_LIMIT
    except StompError as exc:
        assert exc.detail and exc.close_code in (1002, 1009)


@FUZZ
@given(text=st.text(st.characters(codec="utf-8"), max_size=300), cuts=cut_points)
def test_text_messages_fail_only_with_stomp_error(text, cuts):
    """WebSocket text messages (str) go through the same door, with the same outcome."""
    decoder = StompDecoder(SMALL_LIMIT)
    try:
        for piece in split(text.encode(), cuts):
            decoder.feed(piece.decode("utf-8", errors="ignore"))
    except StompError:
        pass


# Any text UTF-8 can carry but NUL; `:`, CR, LF and `\` on purpose.
header_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00") | st.sampled_from(":\r\n\\"), max_size=12)
header_names = header_text.filter(lambda name: name and name != "content-length")
unescaped_names = st.text(st.characters(codec="utf-8", exclude_characters="\x00:\r\n"), min_size=1, max_size=12)
unescaped_values = st.text(st.characters(codec="utf-8", exclude_characters="\x00\r\n"), max_size=12)


@st.composite
def frames(draw, commands: frozenset[str]) -> StompFrame:
    """Draw a frame the encoder can write: any headers its command can carry, a body where one is allowed."""
    command = draw(st.sampled_from(sorted(commands)))
    if command in UNESCAPED_COMMANDS:
        pairs = st.tuples(unescaped_names, unescaped_values)
    else:
        pairs = st.tuples(header_names, header_text)
    headers = draw(st.lists(pairs, max_size=6))
    body = draw(st.binary(max_size=64)) if command in COMMANDS_WITH_BODY else b""
    return StompFrame(command, tuple(headers), body)


def as_decoded(frame: StompFrame) -> StompFrame:
    """Return the frame the decoder gives back: the encoder adds content-length to a body."""
    if not frame.body:
        return frame
    return StompFrame(frame.command, (*frame.headers, ("content-length", str(len(frame.body)))), frame.body)


@FUZZ
@given(
    client_frames=st.lists(frames(CLIENT_COMMANDS), min_size=1, max_size=5),
    version=versions,
    eols=st.lists(st.sampled_from([b"", b"\n", b"\r\n", b"\n\n"]), min_size=5, max_size=5),
    cuts=cut_points,
)
@example(
    client_frames=[StompFrame("SEND", (("a:b\\", "x\r\ny\\c"), ("a:b\\", "second")), b"\x00body\x00")],
    version="1.1",
    eols=[b"\r\n"] * 5,
    cuts=[0, 5, 9],
)
def test_client_frames_round_trip_however_split(client_frames, version, eols, cuts):
    """encode then decode gives each frame back, in order, in 1.2 and 1.1, with heart-beats between and any split."""
    data = b"".join(encode(frame, version) + eol for frame, eol in zip(client_frames, eols, strict=False))
    decoder = StompDecoder(LARGE_LIMIT, version=version)
    decoded = [frame for piece in split(data, cuts) for frame in decoder.feed(piece)]
    assert [frame for frame in decoded if frame is not HEARTBEAT] == [as_decoded(frame) for frame in client_frames]
    assert (HEARTBEAT in decoded) == any(eols[: len(client_frames)])
    assert decoder.buffered_bytes == 0


@FUZZ
@given(server_frames=st.lists(frames(SERVER_COMMANDS), min_size=1, max_size=4), version=versions)
def test_server_frames_round_trip(server_frames, version):
    """What the server encodes, a STOMP reader (this decoder for server commands) reads back unchanged."""
    decoder = StompDecoder(LARGE_LIMIT, commands=SERVER_COMMANDS, version=version)
    decoded = decoder.feed(b"".join(encode(frame, version) for frame in server_frames))
    assert decoded == [as_decoded(frame) for frame in server_frames]


@FUZZ
@given(frame=frames(CLIENT_COMMANDS), cut=st.integers(min_value=0))
def test_a_frame_decodes_the_same_fed_as_text(frame, cut):
    """A frame sent as a text message (its bytes are UTF-8 when the body is) decodes as the bytes would."""
    data = encode(StompFrame(frame.command, frame.headers, b""), "1.2")
    text = data.decode("utf-8")
    decoder = StompDecoder(LARGE_LIMIT)
    cut %= len(text) + 1
    assert decoder.feed(text[:cut]) + decoder.feed(text[cut:]) == [StompFrame(frame.command, frame.headers)]


@settings(max_examples=60, deadline=None, database=None)
@given(frame=frames(CLIENT_COMMANDS), version=versions)
def test_a_frame_cut_in_two_at_every_point_decodes_the_same(frame, version):
    """Cut at every byte, frame and trailing heart-beat come out the same: no split point is special."""
    data = encode(frame, version) + b"\r\n"
    for cut in range(len(data) + 1):
        decoder = StompDecoder(LARGE_LIMIT, version=version)
        assert decoder.feed(data[:cut]) + decoder.feed(data[cut:]) == [as_decoded(frame), HEARTBEAT]
