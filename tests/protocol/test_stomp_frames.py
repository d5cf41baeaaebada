"""STOMP frames as values and their encoding: escapes per version, content-length, the NUL, refusals."""

import pytest

from notifications.protocol.stomp.frames import HEARTBEAT, StompFrame, UnencodableFrame, encode


def test_a_frame_is_command_headers_blank_line_body_nul():
    """The bytes are the command, one line per header, an empty line, the body, NUL."""
    assert encode(StompFrame("RECEIPT", (("receipt-id", "r1"),))) == b"RECEIPT\nreceipt-id:r1\n\n\x00"


def test_a_body_gets_its_content_length_in_bytes():
    """A non-empty body is announced with its length in bytes (not characters); an empty one is not."""
    frame = StompFrame("MESSAGE", (("destination", "/q"),), "é\x00".encode())
    assert encode(frame) == b"MESSAGE\ndestination:/q\ncontent-length:3\n\n\xc3\xa9\x00\x00"
    assert encode(StompFrame("MESSAGE", (("destination", "/q"),))) == b"MESSAGE\ndestination:/q\n\n\x00"


def test_a_stated_content_length_must_match_the_body():
    """A frame that states content-length keeps it in place, and it must be the body's length."""
    frame = StompFrame("ERROR", (("content-length", "2"), ("message", "m")), b"ok")
    assert encode(frame) == b"ERROR\ncontent-length:2\nmessage:m\n\nok\x00"
    with pytest.raises(UnencodableFrame, match="content-length"):
        encode(StompFrame("ERROR", (("content-length", "3"),), b"ok"))


def test_1_2_escapes_cr_lf_colon_and_backslash():
    """In 1.2 every one of CR, LF, ':' and '\\' is escaped, in names as in values."""
    frame = StompFrame("MESSAGE", (("a:b", "x\r\ny:\\z"),))
    assert encode(frame, "1.2") == b"MESSAGE\na\\cb:x\\r\\ny\\c\\\\z\n\n\x00"


def test_1_1_has_no_escape_for_cr():
    """In 1.1 CR goes as it is; LF, ':' and '\\' are escaped."""
    frame = StompFrame("MESSAGE", (("k", "x\r\ny:\\z"),))
    assert encode(frame, "1.1") == b"MESSAGE\nk:x\r\\ny\\c\\\\z\n\n\x00"


def test_connected_is_never_escaped():
    """CONNECTED headers go unescaped; a ':' in a value is fine, CR or LF cannot be carried."""
    frame = StompFrame("CONNECTED", (("server", "notify/1 a:b\\c"),))
    assert encode(frame) == b"CONNECTED\nserver:notify/1 a:b\\c\n\n\x00"
    with pytest.raises(UnencodableFrame, match="not escaped"):
        encode(StompFrame("CONNECTED", (("user-name", "a\nb"),)))
    with pytest.raises(UnencodableFrame, match="not escaped"):
        encode(StompFrame("CONNECTED", (("a:b", "v"),)))


def test_nul_and_empty_names_cannot_be_encoded():
    """No STOMP header carries NUL, and every header has a name."""
    with pytest.raises(UnencodableFrame, match="NUL"):
        encode(StompFrame("MESSAGE", (("k", "a\x00b"),)))
    with pytest.raises(UnencodableFrame, match="empty"):
        encode(StompFrame("MESSAGE", (("", "v"),)))


def test_the_version_must_be_one_spoken():
    """Only 1.2 and 1.1 are encoded."""
    with pytest.raises(ValueError, match="1.0"):
        encode(StompFrame("RECEIPT"), "1.0")


def test_the_heart_beat_is_one_lf():
    """The heart-beat is an EOL, nothing else."""
    assert encode(HEARTBEAT) == b"\n" and HEARTBEAT.is_heartbeat
    assert not StompFrame("SEND").is_heartbeat


def test_get_reads_the_first_of_repeated_headers():
    """`get` answers the first occurrence, `in` any; headers may be given as a list and stay ordered."""
    frame = StompFrame("SEND", [("a", "1"), ("b", "2"), ("a", "3")])
    assert frame.get("a") == "1" and frame.get("c") is None and frame.get("c", "x") == "x"
    assert "b" in frame and "c" not in frame
    assert frame.headers == (("a", "1"), ("b", "2"), ("a", "3"))


def test_frames_are_equal_by_value():
    """Two frames with the same command, headers and body are equal and hash alike."""
    assert StompFrame("SEND", [("a", "1")], b"x") == StompFrame("SEND", (("a", "1"),), b"x")
    assert hash(StompFrame("SEND", [("a", "1")])) == hash(StompFrame("SEND", (("a", "1"),)))
