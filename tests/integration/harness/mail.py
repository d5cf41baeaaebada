"""A real SMTP server for the tests (aiosmtpd): every message it accepts is kept."""

import email
import email.policy
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from aiosmtpd.controller import Controller

from .ports import free_port


class Mailbox:
    """An SMTP server's handler that keeps every message it accepts."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.changed = threading.Event()
        self.port = 0

    @property
    def email_url(self) -> str:
        """Return the EMAIL_URL that sends an instance's mail here."""
        return f"smtp://127.0.0.1:{self.port}"

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        self.changed.set()
        return "250 OK"

    def wait_for(self, count: int, timeout: float) -> list:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            self.changed.wait(0.2)
            self.changed.clear()
        return list(self.messages)


@contextmanager
def smtp_server() -> Iterator[Mailbox]:
    """Run an SMTP server on a free port for the block; yield its mailbox."""
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    box.port = controller.port
    try:
        yield box
    finally:
        controller.stop()
