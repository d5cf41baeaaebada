"""A private RabbitMQ node with the Web-STOMP plugin, the broker both broker-backed peers run on.

It is a `RabbitNode` of the test harness (own folders, ports, cookie and node
name, stopped by the PID of its own `beam.smp`), with `rabbitmq_web_stomp`
enabled on it alone: the shared broker on 5672 is never addressed.
"""

import secrets
from pathlib import Path

from tests.integration.harness.ports import free_port
from tests.integration.harness.rabbit_cluster import RabbitNode

WEB_STOMP_PATH = "/ws"


class WebStompNode(RabbitNode):
    """One private node: AMQP on `url`, STOMP over WebSocket on `ws_url`."""

    def __init__(self, folder: Path):
        self.web_stomp_port = free_port()
        self.stomp_port = free_port()
        super().__init__(f"notify-bench-{secrets.token_hex(4)}@localhost", folder, secrets.token_hex(20).upper())

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.web_stomp_port}{WEB_STOMP_PATH}"

    def _prepare(self, cookie: str) -> None:
        super()._prepare(cookie)
        (self.folder / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.amqp_port}\n"
            # The plain STOMP listener comes with the plugin; on a port of its own, never the shared node's.
            f"stomp.listeners.tcp.1 = 127.0.0.1:{self.stomp_port}\n"
            f"web_stomp.tcp.ip = 127.0.0.1\n"
            f"web_stomp.tcp.port = {self.web_stomp_port}\n"
        )
        (self.folder / "enabled_plugins").write_text("[rabbitmq_web_stomp].\n")

    def __enter__(self) -> "WebStompNode":
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
