"""Where a client's STOMP bytes become frames: an incremental decoder, pure, no I/O.

WebSocket messages do not line up with STOMP frames: a frame may be split
across messages and one message may hold several frames, with heart-beat
EOLs between them. `StompDecoder.feed` takes each message as it comes and
returns the frames it completed. What it keeps between calls is at most one
unfinished frame, bounded by `max_frame_bytes`, the header count and the
header line length, so no client can make it buffer more. Anything it
refuses raises a `StompError`; the connection cannot go on after one.
"""

from notifications.protocol.stomp.errors import (
    BadContentLength,
    FrameTooLarge,
    HeaderLineTooLong,
    MalformedFrame,
    StompError,
    TooManyHeaders,
    UnknownCommand,
)
from notifications.protocol.stomp.frames import CLIENT_COMMANDS, COMMANDS_WITH_BODY, HEARTBEAT, StompFrame
from notifications.protocol.stomp.headers import VERSIONS, is_escaped, parse_line, shown

MAX_HEADERS = 64
MAX_HEADER_LINE_BYTES = 8 * 1024
# Ten digits are past any frame limit; more would only make int() work for nothing.
_MAX_CONTENT_LENGTH_DIGITS = 10
_LF, _CR, _NUL = 0x0A, 0x0D, 0x00


class StompDecoder:
    """Turn a client's bytes, fed in any split, into `StompFrame`s and `HEARTBEAT`s.

    `version` is how header lines are read: "1.2" (the default, also used
    for CONNECT, since no version is agreed before it) takes CR LF as a line
    end and `\\r` as an escape; "1.1" ends lines with LF alone. The adapter
    sets it once it has answered CONNECT.
    """

    def __init__(
        self,
        max_frame_bytes: int,
        *,
        max_headers: int = MAX_HEADERS,
        max_header_line_bytes: int = MAX_HEADER_LINE_BYTES,
        commands: frozenset[str] = CLIENT_COMMANDS,
        version: str = "1.2",
    ):
        self.max_frame_bytes = max_frame_bytes
        self.max_headers = max_headers
        self.max_header_line_bytes = max_header_line_bytes
        self.commands = commands
        self.version = version
        self._buffer = bytearray()
        # Where the unread bytes start: consumed bytes are dropped once per feed, not once per frame.
        self._position = 0
        self._failure: StompError | None = None
        self._start_frame()

    @property
    def version(self) -> str:
        return self._version

    @version.setter
    def version(self, version: str) -> None:
        if version not in VERSIONS:
            raise ValueError(f"STOMP version must be one of {', '.join(VERSIONS)}, not {version!r}")
        self._version = version

    @property
    def buffered_bytes(self) -> int:
        """Return how many bytes of an unfinished frame are held (never more than `max_frame_bytes`)."""
        return len(self._buffer) - self._position

    def feed(self, data: bytes | str) -> list[StompFrame]:
        """Return the frames completed by `data` (a run of heart-beat EOLs is one `HEARTBEAT`), in order."""
        if self._failure is not None:
            raise type(self._failure)(f"the stream already failed: {self._failure.detail}")
        try:
            self._buffer += data.encode("utf-8") if isinstance(data, str) else data
            completed = self._drain()
            del self._buffer[: self._position]
            self._scanned -= self._position
            self._position = 0
            return completed
        except UnicodeEncodeError:
            self._failure = MalformedFrame("text holds lone surrogates, which are not UTF-8")
        except StompError as exc:
            self._failure = exc
        self._buffer.clear()
        self._position = 0
        raise self._failure

    def _drain(self) -> list[StompFrame]:
        completed: list[StompFrame] = []
        while (item := self._step()) is not None:
            if not (item is HEARTBEAT and completed and completed[-1] is HEARTBEAT):
                completed.append(item)
        return completed

    def _start_frame(self) -> None:
        self._step = self._between_frames
        self._command = ""
        self._headers: list[tuple[str, str]] = []
        self._content_length: int | None = None
        self._frame_bytes = 0
        self._scanned = self._position

    def _consume(self, count: int) -> bytes:
        start = self._position
        self._position = self._scanned = start + count
        self._frame_bytes += count
        if self._frame_bytes > self.max_frame_bytes:
            raise FrameTooLarge(f"a frame is over the limit of {self.max_frame_bytes} bytes")
        return bytes(self._buffer[start : self._position])

    def _between_frames(self) -> StompFrame | None:
        pending = self._buffer[self._position : self._position + 2]
        if not pending or pending == b"\r":
            return None
        if pending[0] == _LF or pending == b"\r\n":
            self._position += 1 if pending[0] == _LF else 2
            return HEARTBEAT
        self._scanned = self._position
        self._step = self._command_line
        return self._step()

    def _read_line(self, limit: int) -> bytes | None:
        """Return the next line without its EOL, or None until its LF has come; NUL ends no line."""
        end = self._buffer.find(b"\n", self._scanned)
        searched = len(self._buffer) if end < 0 else end
        if self._buffer.find(b"\x00", self._scanned, searched) >= 0:
            raise MalformedFrame("NUL before the end of the headers: a frame's headers end with an empty line")
        length = searched - self._position
        if end < 0:
            self._scanned = searched
            if length > limit:
                self._line_too_long(limit)
            if self._frame_bytes + length > self.max_frame_bytes:
                raise FrameTooLarge(f"a frame is over the limit of {self.max_frame_bytes} bytes")
            return None
        if length > limit:
            self._line_too_long(limit)
        line = self._consume(length + 1)[:-1]
        if self._version == "1.2" and line.endswith(b"\r"):
            return line[:-1]
        return line

    def _line_too_long(self, limit: int) -> None:
        if self._step == self._command_line:
            raise UnknownCommand(f"unknown STOMP command {shown(bytes(self._buffer[self._position :]))}")
        raise HeaderLineTooLong(f"a header line is over the limit of {limit} bytes")

    def _command_line(self) -> StompFrame | None:
        line = self._read_line(limit=max(map(len, self.commands)) + 1)
        if line is None:
            return None
        command = line.decode("ascii", errors="replace")
        if command not in self.commands:
            raise UnknownCommand(f"unknown STOMP command {shown(line)}")
        self._command = command
        self._step = self._header_line
        return self._step()

    def _header_line(self) -> StompFrame | None:
        while (line := self._read_line(limit=self.max_header_line_bytes)) is not None:
            if not line:
                self._content_length = self._stated_content_length()
                self._step = self._body
                return self._step()
            if len(self._headers) >= self.max_headers:
                raise TooManyHeaders(f"a frame has more than {self.max_headers} headers")
            self._headers.append(parse_line(line, escaped=is_escaped(self._command), version=self._version))
        return None

    def _stated_content_length(self) -> int | None:
        stated = next((value for name, value in self._headers if name == "content-length"), None)
        if stated is None:
            return None
        if not (stated.isascii() and stated.isdigit()) or len(stated) > _MAX_CONTENT_LENGTH_DIGITS:
            raise BadContentLength(f"content-length must be a byte count, not {shown(stated.encode())}")
        length = int(stated)
        if self._frame_bytes + length + 1 > self.max_frame_bytes:
            raise FrameTooLarge(f"content-length {length} is over the frame limit of {self.max_frame_bytes} bytes")
        return length

    def _body(self) -> StompFrame | None:
        if self._content_length is None:
            end = self._buffer.find(b"\x00", self._scanned)
            if end < 0:
                self._scanned = len(self._buffer)
                if self._frame_bytes + self.buffered_bytes >= self.max_frame_bytes:
                    raise FrameTooLarge(f"a frame is over the limit of {self.max_frame_bytes} bytes")
                return None
            length = end - self._position
        else:
            length = self._content_length
            if self.buffered_bytes <= length:
                return None
            if self._buffer[self._position + length] != _NUL:
                raise MalformedFrame(f"no NUL after the {length} bytes of body that content-length states")
        return self._finish(self._consume(length + 1)[:-1])

    def _finish(self, body: bytes) -> StompFrame:
        if body and self._command not in COMMANDS_WITH_BODY:
            raise MalformedFrame(f"a {self._command} frame must not have a body")
        frame = StompFrame(self._command, tuple(self._headers), body)
        self._start_frame()
        return frame
