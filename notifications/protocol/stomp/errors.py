"""Why a STOMP client's bytes were refused: each error is fatal to the connection.

STOMP has no way to refuse one frame and go on: the server answers with an
`ERROR` frame and closes (`server_frames.error_for` builds that frame from
any of these, `close_code` says how the WebSocket closes).
"""


class StompError(Exception):
    """A client frame the codec refuses; `code` is machine-readable, the text goes in ERROR's `message`."""

    code = "malformed_frame"
    default_detail = "The frame is not valid STOMP."
    # 1002: protocol error (RFC 6455 section 7.4.1).
    close_code = 1002

    def __init__(self, detail: str | None = None):
        self.detail = detail or self.default_detail
        super().__init__(self.detail)

    @property
    def error_headers(self) -> tuple[tuple[str, str], ...]:
        """Return the headers this error adds to its ERROR frame, besides `message`."""
        return ()


class MalformedFrame(StompError):
    """Bytes that are not a frame: no LF after the command, NUL inside the headers, no NUL after the body."""


class UnknownCommand(StompError):
    code = "unknown_command"
    default_detail = "Unknown STOMP command."


class BadHeader(StompError):
    """A header line without a colon, with an empty name, not UTF-8, with NUL, or with an undefined escape."""

    code = "bad_header"
    default_detail = "A header is not valid."


class BadContentLength(BadHeader):
    code = "bad_content_length"
    default_detail = "content-length must be a byte count."


class BadHeartBeat(BadHeader):
    code = "bad_heart_beat"
    default_detail = "heart-beat must be two non-negative integers separated by a comma."


class UnsupportedVersion(StompError):
    code = "unsupported_version"
    default_detail = "Supported protocol versions are 1.2 and 1.1."

    @property
    def error_headers(self) -> tuple[tuple[str, str], ...]:
        # STOMP 1.2 "Protocol Negotiation": the ERROR says which versions the server speaks.
        return (("version", "1.2,1.1"),)


class FrameTooLarge(StompError):
    """Over a limit that bounds what one frame may make the server buffer; closes with 1009."""

    code = "frame_too_large"
    default_detail = "The frame is over the size limit."
    # 1009: message too big (RFC 6455 section 7.4.1), as for an oversized JSON frame.
    close_code = 1009


class TooManyHeaders(FrameTooLarge):
    code = "too_many_headers"
    default_detail = "The frame has too many headers."


class HeaderLineTooLong(FrameTooLarge):
    code = "header_line_too_long"
    default_detail = "A header line is too long."
