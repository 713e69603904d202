"""A real SMTP server (aiosmtpd) for tests that read what Signet mails."""
from __future__ import annotations

import email
import re
import threading
from email.message import Message

from aiosmtpd.controller import Controller

from .servers import free_port


class Inbox:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self):
        self.messages: list[Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self._arrived = threading.Condition()

    async def handle_DATA(self, server, session, envelope):
        with self._arrived:
            self.messages.append(email.message_from_bytes(envelope.content))
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self._arrived.notify_all()
        return "250 Message accepted"

    def wait_for(self, count: int, timeout: float = 10) -> list[Message]:
        with self._arrived:
            assert self._arrived.wait_for(lambda: len(self.messages) >= count, timeout), \
                f"expected {count} mail(s), got {len(self.messages)}"
            return list(self.messages)

    def to(self, address: str, count: int = 1, timeout: float = 10) -> list[Message]:
        """The mails to `address`, once at least `count` of them arrived."""
        with self._arrived:
            def mine():
                return [m for m in self.messages if m["To"] == address]
            assert self._arrived.wait_for(lambda: len(mine()) >= count, timeout), \
                f"expected {count} mail(s) to {address}, got {len(mine())}"
            return mine()

    @staticmethod
    def body(message: Message) -> str:
        return message.get_payload(decode=True).decode("utf-8")

    def link(self, address: str, path: str, count: int = 1, timeout: float = 10) -> str:
        """The link starting with `path` in the latest mail to `address` that holds one, once
        `count` such mails arrived."""
        pattern = re.compile(re.escape(path) + r"[A-Za-z0-9_-]+")
        with self._arrived:
            def found():
                return [m.group(0) for m in (pattern.search(self.body(x)) for x in self.messages
                                             if x["To"] == address) if m]
            assert self._arrived.wait_for(lambda: len(found()) >= count, timeout), \
                f"expected {count} mail(s) to {address} with a {path} link, got {len(found())}"
            return found()[-1]


def smtp_server(app):
    """Start a server on a free loopback port and point the app at it; yields the Inbox."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    app.config["SIGNET_SMTP_URL"] = f"smtp://127.0.0.1:{port}"
    try:
        yield inbox
    finally:
        from webapp.infra import background

        background.wait_idle()  # email sign-in mails from a background worker: let it finish first
        controller.stop()
