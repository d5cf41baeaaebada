"""autobahn's debug-log helpers, deferred (notifications/lazylogs.py)."""

import pprint

import autobahn.twisted.websocket as twisted_websocket
import autobahn.websocket.protocol as protocol
from autobahn.util import hltype, hlval

from notifications.serving import lazylogs


def test_the_deferred_helpers_give_the_same_text_when_formatted():
    lazylogs.defer_autobahn_debug_formatting()
    lazylogs.defer_autobahn_debug_formatting()  # twice changes nothing
    method = protocol.WebSocketProtocol.sendData
    assert f"{protocol.hltype(method)}" == hltype(method)
    assert str(twisted_websocket.hlval(42)) == hlval(42)
    config = [("openHandshakeTimeout", 5, "WebSocketServerFactory")]
    log_line = "{attrs}".format(attrs=protocol.pformat(config))  # noqa: UP032 (how txaio renders a log line)
    assert log_line == pprint.pformat(config)


def test_nothing_is_formatted_unless_a_line_is_written():
    calls = []
    spy = lazylogs._deferring(lambda value: calls.append(value) or f"<{value}>")
    deferred = spy(7)
    assert calls == []
    assert f"{deferred}" == "<7>" and calls == [7]


def test_timings_still_print_as_text():
    lazylogs.defer_autobahn_debug_formatting()
    timings = protocol.Timings()
    timings.track("onOpen")
    assert "onOpen" in str(timings)
