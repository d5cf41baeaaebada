"""The incremental STOMP decoder: framing, EOLs, escapes, bodies, limits and refusals, bytes in, frames out."""

import pytest

from notifications.protocol.stomp.decoder import StompDecoder
from notifications.protocol.stomp.errors import (
    BadContentLength,
    BadHeader,
    FrameTooLarge,
    HeaderLineTooLong,
    MalformedFrame,
    StompError,
    TooManyHeaders,
    UnknownCommand,
)
from notifications.protocol.stomp.frames import HEARTBEAT, SERVER_COMMANDS, StompFrame

LIMIT = 1024
SEND = b"SEND\ndestination:/q\n\nhello\x00"
SEND_FRAME = StompFrame("SEND", (("destination", "/q"),), b"hello")


def decode(data: bytes, **options) -> list[StompFrame]:
    return StompDecoder(options.pop("max_frame_bytes", LIMIT), **options).feed(data)


def test_a_frame_split_byte_by_byte_decodes_whole():
    """A frame fed one byte per message comes out once, complete, with the byte that ends it."""
    decoder = StompDecoder(LIMIT)
    out = [decoder.feed(SEND[i : i + 1]) for i in range(len(SEND))]
    assert out[:-1] == [[]] * (len(SEND) - 1) and out[-1] == [SEND_FRAME]
    assert decoder.buffered_bytes == 0


def test_frames_packed_in_one_message_come_out_in_order():
    """Several frames and the start of the next in one message: the complete ones now, the rest later."""
    decoder = StompDecoder(LIMIT)
    assert decoder.feed(SEND + b"ACK\nid:1\n\n\x00" + b"NACK\nid") == [SEND_FRAME, StompFrame("ACK", (("id", "1"),))]
    assert decoder.feed(b":2\n\n\x00") == [StompFrame("NACK", (("id", "2"),))]


def test_text_messages_are_taken_as_utf8():
    """A str (a WebSocket text message) is the UTF-8 bytes it encodes to."""
    assert decode("SEND\ndestination:/é\n\nà\x00".encode()) == StompDecoder(LIMIT).feed("SEND\ndestination:/é\n\nà\x00")


@pytest.mark.parametrize("eol", [b"\n", b"\r\n"])
def test_heart_beat_eols_between_frames_are_reported(eol):
    """LF or CR LF between frames is a heart-beat, reported where it came; a run of them is one HEARTBEAT."""
    assert decode(eol) == [HEARTBEAT]
    assert decode(eol * 3 + SEND + eol + SEND) == [HEARTBEAT, SEND_FRAME, HEARTBEAT, SEND_FRAME]


def test_a_cr_at_the_end_of_a_message_waits_for_its_lf():
    """A heart-beat's CR and LF may arrive in two messages."""
    decoder = StompDecoder(LIMIT)
    assert decoder.feed(b"\r") == []
    assert decoder.feed(b"\n") == [HEARTBEAT]


def test_crlf_line_ends_in_1_2():
    """In 1.2 every line may end with CR LF; the CR is not part of the command or the header."""
    assert decode(b"SEND\r\ndestination:/q\r\n\r\nhello\x00") == [SEND_FRAME]


def test_cr_is_header_text_in_1_1():
    """1.1 lines end with LF alone, and it has no escape for CR, so a CR before LF belongs to the value."""
    assert decode(b"SEND\ndestination:/q\r\n\n\x00", version="1.1") == [StompFrame("SEND", (("destination", "/q\r"),))]


def test_the_1_2_escapes():
    """`\\r`, `\\n`, `\\c` and `\\\\` stand for CR, LF, ':' and '\\', in names as in values."""
    (frame,) = decode(b"SEND\na\\cb:x\\r\\ny\\c\\\\z\n\n\x00")
    assert frame.headers == (("a:b", "x\r\ny:\\z"),)


def test_the_1_1_escapes_have_no_cr():
    """1.1 has `\\n`, `\\c` and `\\\\`; `\\r` is undefined there, so fatal."""
    (frame,) = decode(b"SEND\nk:a\\nb\\cc\\\\\n\n\x00", version="1.1")
    assert frame.headers == (("k", "a\nb:c\\"),)
    with pytest.raises(BadHeader, match="undefined escape"):
        decode(b"SEND\nk:a\\rb\n\n\x00", version="1.1")


@pytest.mark.parametrize("value", [b"\\t", b"a\\", b"\\C", b"\\x41"])
def test_an_undefined_escape_is_fatal(value):
    """An escape the spec does not define, or a backslash ending the header, is a fatal error."""
    with pytest.raises(BadHeader, match="undefined escape"):
        decode(b"SEND\nk:" + value + b"\n\n\x00")


def test_connect_headers_are_not_unescaped():
    """CONNECT and STOMP are never escaped: a backslash is itself, and a raw ':' in a value is kept."""
    (connect,) = decode(b"CONNECT\npasscode:a\\tb\\c\nlogin:x:y\naccept-version:1.2\n\n\x00")
    assert connect.get("passcode") == "a\\tb\\c" and connect.get("login") == "x:y"
    (stomp,) = decode(b"STOMP\npasscode:a\\nb\naccept-version:1.2\n\n\x00")
    assert stomp.get("passcode") == "a\\nb"


def test_connected_headers_are_not_unescaped():
    """A decoder for server frames reads CONNECTED unescaped too."""
    (frame,) = decode(b"CONNECTED\nserver:a\\b\n\n\x00", commands=SERVER_COMMANDS)
    assert frame.get("server") == "a\\b"


def test_a_raw_colon_in_an_escaped_value_is_kept():
    """Clients that never escape (webstomp-client) send ':' raw in values: the first colon ends the name."""
    assert decode(b"ACK\nid:e1:7\n\n\x00")[0].get("id") == "e1:7"


def test_the_first_of_a_repeated_header_wins_and_all_are_kept():
    """STOMP 1.2: the first occurrence is the value; the later ones stay in `headers`."""
    (frame,) = decode(b"SEND\nfoo:1\nfoo:2\n\n\x00")
    assert frame.get("foo") == "1" and frame.headers == (("foo", "1"), ("foo", "2"))


def test_header_values_keep_their_spaces():
    """Nothing is trimmed: spaces around a value are part of it."""
    assert decode(b"SEND\nk: v \n\n\x00")[0].get("k") == " v "


def test_a_content_length_body_may_hold_nul():
    """With content-length the body is that many bytes, NUL octets included, then the frame's NUL."""
    (frame,) = decode(b"SEND\ncontent-length:5\n\na\x00b\x00c\x00")
    assert frame.body == b"a\x00b\x00c"


def test_a_content_length_body_split_anywhere():
    """A content-length body arriving in pieces, one ending on an inner NUL, completes only at its length."""
    decoder = StompDecoder(LIMIT)
    assert decoder.feed(b"SEND\ncontent-length:3\n\na\x00") == []
    assert decoder.feed(b"b") == []
    assert decoder.feed(b"\x00") == [StompFrame("SEND", (("content-length", "3"),), b"a\x00b")]


def test_a_body_longer_than_its_content_length_is_refused():
    """The byte after content-length bytes must be the frame's NUL."""
    with pytest.raises(MalformedFrame, match="no NUL after the 2 bytes"):
        decode(b"SEND\ncontent-length:2\n\nabc\x00")


def test_without_content_length_the_first_nul_ends_the_body():
    """No content-length: the body runs to the first NUL, and what follows is the next frame."""
    assert decode(b"SEND\n\nab\x00\n") == [StompFrame("SEND", (), b"ab"), HEARTBEAT]


def test_content_length_zero_and_leading_zeros():
    """`0` and `007` are byte counts."""
    assert decode(b"SEND\ncontent-length:0\n\n\x00")[0].body == b""
    assert decode(b"SEND\ncontent-length:003\n\nabc\x00")[0].body == b"abc"


@pytest.mark.parametrize("value", [b"-1", b"abc", b"1.5", b" 3", b"3 ", b"+3", b"", b"\xd9\xa3", b"9" * 30])
def test_a_bad_content_length_is_refused(value):
    """Negative, non-digit (Unicode digits too), padded, empty or absurdly long content-length is refused."""
    with pytest.raises(BadContentLength):
        decode(b"SEND\ncontent-length:" + value + b"\n\nabc\x00")


def test_only_send_message_and_error_carry_a_body():
    """A body on any other frame is refused; an empty one is fine."""
    with pytest.raises(MalformedFrame, match="SUBSCRIBE frame must not have a body"):
        decode(b"SUBSCRIBE\nid:1\n\nx\x00")
    assert decode(b"SUBSCRIBE\nid:1\ncontent-length:0\n\n\x00")[0].command == "SUBSCRIBE"


@pytest.mark.parametrize("command", [b"DANCE", b"send", b"MESSAGE", b"CONNECTED", b" SEND", b"SEND "])
def test_an_unknown_command_is_refused(command):
    """Only client commands, exactly spelt: lowercase, padded or server commands are unknown."""
    with pytest.raises(UnknownCommand, match="unknown STOMP command"):
        decode(command + b"\n\n\x00")


def test_a_long_command_line_is_refused_before_its_lf():
    """Garbage with no LF is refused once it is longer than any command, not buffered."""
    decoder = StompDecoder(LIMIT)
    assert decoder.feed(b"SUBSCRI") == []
    with pytest.raises(UnknownCommand):
        decoder.feed(b"BEXXXXX")


def test_a_header_line_without_a_colon_is_refused():
    """Every header line is name:value."""
    with pytest.raises(BadHeader, match="without a colon"):
        decode(b"SEND\ndestination\n\n\x00")


def test_an_empty_header_name_is_refused():
    """A header line must name its header."""
    with pytest.raises(BadHeader, match="empty name"):
        decode(b"SEND\n:v\n\n\x00")


@pytest.mark.parametrize("line", [b"k:\xff", b"\xc3:v", b"k:\xed\xa0\x80"])
def test_non_utf8_headers_are_refused(line):
    """Header names and values are strict UTF-8 (no encoded surrogates either)."""
    with pytest.raises(BadHeader, match="not valid UTF-8"):
        decode(b"SEND\n" + line + b"\n\n\x00")


@pytest.mark.parametrize("data", [b"SEND\nk:a\x00b\n\n\x00", b"DISCONNECT\n\x00", b"SEND\nk:v\x00"])
def test_nul_in_the_headers_is_refused_at_once(data):
    """A NUL before the empty line ending the headers is refused when it comes, not waited on."""
    with pytest.raises(MalformedFrame, match="NUL before the end of the headers"):
        decode(data)


def test_lone_surrogates_in_text_are_refused():
    """A str that is not Unicode text cannot be UTF-8."""
    with pytest.raises(MalformedFrame, match="lone surrogates"):
        StompDecoder(LIMIT).feed("SEND\nk:\ud800\n\n\x00")


def test_a_frame_of_exactly_the_limit_is_accepted_and_one_byte_more_refused():
    """The limit counts every byte of the frame, its NUL included."""
    head = b"SEND\n\n"
    exact = head + b"x" * (LIMIT - len(head) - 1) + b"\x00"
    assert len(exact) == LIMIT and decode(exact)[0].body == b"x" * (LIMIT - len(head) - 1)
    with pytest.raises(FrameTooLarge):
        decode(head + b"x" * (LIMIT - len(head)) + b"\x00")


def test_a_body_without_nul_is_refused_at_the_limit_not_buffered():
    """Bytes that cannot end within the limit are refused as soon as they pass it."""
    decoder = StompDecoder(LIMIT)
    decoder.feed(b"SEND\n\n" + b"x" * (LIMIT - 10))
    assert decoder.buffered_bytes <= LIMIT
    with pytest.raises(FrameTooLarge) as caught:
        decoder.feed(b"x" * 10)
    assert caught.value.close_code == 1009


def test_a_content_length_over_the_limit_is_refused_before_the_body():
    """A stated length that cannot fit is refused at the end of the headers, before any body is buffered."""
    with pytest.raises(FrameTooLarge, match="content-length 2000"):
        decode(b"SEND\ncontent-length:2000\n\n")
    with pytest.raises(FrameTooLarge):
        decode(b"SEND\ncontent-length:9999999999\n\n")


def test_too_many_headers_are_refused():
    """More headers than `max_headers` is over a limit (1009)."""
    assert len(decode(b"SEND\n" + b"k:v\n" * 4 + b"\n\x00", max_headers=4)[0].headers) == 4
    with pytest.raises(TooManyHeaders) as caught:
        decode(b"SEND\n" + b"k:v\n" * 5, max_headers=4)
    assert caught.value.close_code == 1009


def test_a_header_line_over_the_limit_is_refused_before_its_lf():
    """A header line longer than `max_header_line_bytes` is refused as it grows, LF or not."""
    assert decode(b"SEND\nk:" + b"v" * 14 + b"\n\n\x00", max_header_line_bytes=16)[0].get("k") == "v" * 14
    with pytest.raises(HeaderLineTooLong):
        decode(b"SEND\nk:" + b"v" * 15, max_header_line_bytes=16)


def test_headers_count_toward_the_frame_limit():
    """Many short headers cannot get past the frame limit either."""
    with pytest.raises(FrameTooLarge):
        decode(b"SEND\n" + b"header:value\n" * 100, max_frame_bytes=256, max_headers=1000)


def test_a_failed_decoder_refuses_everything_after():
    """After a refusal the stream cannot be resynchronised: every later feed raises."""
    decoder = StompDecoder(LIMIT)
    with pytest.raises(UnknownCommand):
        decoder.feed(b"DANCE\n\n\x00")
    with pytest.raises(StompError, match="already failed"):
        decoder.feed(SEND)
    assert decoder.buffered_bytes == 0


def test_the_version_can_be_set_once_negotiated():
    """The adapter switches the decoder to the agreed version; an unknown one is a programming error."""
    decoder = StompDecoder(LIMIT)
    decoder.version = "1.1"
    assert decoder.feed(b"SEND\nk:v\r\n\n\x00")[0].get("k") == "v\r"
    with pytest.raises(ValueError):
        decoder.version = "1.0"
