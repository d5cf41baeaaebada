"""The library functions our serving patches wrap still have the signatures the patches were written for.

An upgrade of daphne, autobahn or Twisted that moves or changes one of them
fails here, instead of silently disabling a patch (or breaking sockets) in
production.
"""

import ast
import importlib
import importlib.util
import inspect
import textwrap
from pathlib import Path

import pytest
from autobahn.websocket.protocol import Timings
from autobahn.websocket.protocol import WebSocketProtocol as AutobahnProtocol
from daphne.ws_protocol import WebSocketProtocol
from twisted.internet.abstract import FileDescriptor
from twisted.internet.tcp import Connection

from notifications import serving
from notifications.serving import closecodes, inputqueues, lazylogs, rawframes


def original(function):
    """Return what a patch wraps (or the function itself when no patch is installed)."""
    return getattr(function, "wraps", None) or getattr(function, "defers", None) or function


def parameters(function) -> list[str]:
    return list(inspect.signature(original(function)).parameters)


@pytest.fixture(autouse=True)
def installed():
    """Every patch installed, as the hub does on the server's loop."""
    serving.install()


def test_daphne_server_send_takes_content_and_binary():
    """backpressure wraps `serverSend(self, content, binary=False)` and calls it positionally."""
    assert parameters(WebSocketProtocol.serverSend) == ["self", "content", "binary"]
    assert WebSocketProtocol.serverSend.bounded


def test_daphne_server_close_takes_a_code_and_autobahn_can_send_any_close_frame():
    """closecodes wraps `serverClose(self, code=None)` and sends through `sendCloseFrame(code, isReply)`."""
    assert parameters(WebSocketProtocol.serverClose) == ["self", "code"]
    assert WebSocketProtocol.serverClose.allows_server_codes
    assert parameters(AutobahnProtocol.sendCloseFrame) == ["self", "code", "reasonUtf8", "isReply"]
    assert issubclass(WebSocketProtocol, AutobahnProtocol)


def test_autobahn_still_refuses_the_codes_closecodes_lets_through():
    """Were `sendClose` to accept 1009 itself, the patch would be dead code: drop it then."""
    source = inspect.getsource(AutobahnProtocol.sendClose)
    assert "3000 <= code <= 4999" in source
    assert 1009 in closecodes.SERVER_CLOSE_CODES and 1001 in closecodes.SERVER_CLOSE_CODES


def test_twisted_transports_keep_the_buffer_fields_backpressure_reads():
    """`buffered_bytes` reads `dataBuffer`, `offset` and `_tempDataLen`; `abortConnection` drops the socket."""
    source = inspect.getsource(FileDescriptor)
    for field in ("self.dataBuffer", "self.offset", "self._tempDataLen"):
        assert field in source, field
    assert callable(getattr(Connection, "abortConnection", None))


@pytest.mark.parametrize(
    ("module_name", "helpers"),
    [
        ("autobahn.websocket.protocol", ("hltype", "hlval", "pformat")),
        ("autobahn.twisted.websocket", ("hltype", "hlval")),
    ],
)
def test_autobahn_modules_still_import_the_debug_helpers_lazylogs_defers(module_name, helpers):
    """Each module lazylogs patches still imports its debug helpers, deferred, with the signatures they had."""
    assert module_name in lazylogs._MODULES
    module = importlib.import_module(module_name)
    for name in helpers:
        assert hasattr(getattr(module, name), "defers"), f"{module_name}.{name} is not deferred"
    assert parameters(module.hltype) == ["obj"]
    assert parameters(module.hlval)[:1] == ["val"]
    if "pformat" in helpers:
        assert parameters(module.pformat)[:1] == ["object"]


def test_autobahn_timings_keeps_its_table_in_timings():
    """lazylogs' `Timings.__str__` formats `_timings`, the attribute autobahn keeps them in."""
    timings = Timings()
    assert isinstance(timings._timings, dict)
    assert str(timings) == "{}"


def test_autobahn_and_twisted_keep_the_fields_rawframes_checks_before_writing_itself():
    """A raw frame is written only when autobahn's state says open, uncompressed and nothing queued of its own."""
    from twisted.internet._newtls import ConnectionMixin

    assert AutobahnProtocol.STATE_OPEN == rawframes._OPEN
    assert (AutobahnProtocol.STATE_CLOSING, AutobahnProtocol.STATE_CLOSED) == (rawframes._CLOSING, rawframes._CLOSED)
    source = inspect.getsource(AutobahnProtocol)
    for field in ("self._perMessageCompress", "self.send_queue", "self.maxMessagePayloadSize", "self.state"):
        assert field in source, field
    assert ConnectionMixin.TLS is False
    assert "self.socket" in inspect.getsource(Connection)


def test_daphne_creates_applications_as_inputqueues_repeats_it():
    """inputqueues replaces `Server.create_application`: its statements are daphne's, with the other queue.

    Read from the source: importing `daphne.server` would install Twisted's reactor in the test process.
    """
    source = Path(importlib.util.find_spec("daphne.server").origin).read_text()
    theirs = source[source.index("    def create_application(self, protocol, scope):") :]
    theirs = theirs[: theirs.index("    async def handle_reply")]
    theirs = theirs.replace("self.connections", "server.connections").replace("self.", "server.")
    theirs = theirs.replace("asyncio.Queue()", "InputQueue()")
    ours = code_lines(inspect.getsource(inputqueues.create_application))
    assert ours[0] == "rawframes.offer_protocol(protocol, scope)"  # our one line: the fast path offered
    assert code_lines(theirs) == ours[1:]


def code_lines(function_source: str) -> list[str]:
    """Return a function's statements, stripped, without its docstring and comments."""
    code = ast.unparse(ast.parse(textwrap.dedent(function_source)).body[0].body[1:])
    return [line.strip() for line in code.splitlines()]


def test_daphne_protocols_only_put_into_their_application_queue():
    """An `InputQueue` serves what daphne's protocols call on it: `put_nowait`, and a truth test."""
    import re

    for module in ("daphne.ws_protocol", "daphne.http_protocol"):
        source = Path(importlib.util.find_spec(module).origin).read_text()
        assert set(re.findall(r"application_queue\.(\w+)", source)) == {"put_nowait"}, module
