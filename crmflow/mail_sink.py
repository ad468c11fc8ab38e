"""A real SMTP server that keeps every message it accepts: the dev stack's mailbox.

Each message is written as an .eml file into a folder (when one is given) and kept in
memory for tests. With a ``forward`` set, each message is first handed on (the dev stack
hands mail for the support address to the API); if that fails, the message is refused for
now (451), so the sending client tries again later.
"""

from __future__ import annotations

import email
import email.policy
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class ReceivedMail:
    envelope_to: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def purpose(self) -> str:
        return str(self.message["X-Crmflow-Purpose"])

    @property
    def key(self) -> str:
        return str(self.message["X-Crmflow-Key"])

    @property
    def text(self) -> str:
        body = self.message.get_body(preferencelist=("plain",))
        return body.get_content() if body is not None else ""

    @property
    def attachments(self) -> list[tuple[str | None, str, bytes]]:
        """The files it carries: name, type, content."""
        return [(part.get_filename(), part.get_content_type(), content)
                for part in self.message.iter_attachments()
                if isinstance(content := part.get_payload(decode=True), bytes)]


Forward = Callable[[bytes, list[str]], Awaitable[None]]
"""Hands a raw message and its envelope recipients on; raises when it cannot."""


class MailSink:
    """Accepts every message; ``messages`` lists them in arrival order."""

    def __init__(self, folder: Path | None = None, forward: Forward | None = None) -> None:
        self.folder = folder
        self.forward = forward
        self.messages: list[ReceivedMail] = []
        self._lock = threading.Lock()
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        if self.forward is not None:
            try:
                await self.forward(raw, list(envelope.rcpt_tos))
            except Exception as error:
                return f"451 4.3.0 cannot deliver it now ({type(error).__name__}), try later"
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.messages.append(ReceivedMail(list(envelope.rcpt_tos), message))
            number = len(self.messages)
        if self.folder is not None:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
            (self.folder / f"{stamp}-{number:05d}.eml").write_bytes(raw)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[ReceivedMail]:
        with self._lock:
            return [m for m in self.messages if address in m.envelope_to]


def start_mail_sink(
    host: str, port: int, folder: Path | None = None
) -> tuple[Controller, MailSink]:
    """Start the SMTP server in its own thread; stop it with ``controller.stop()``."""
    sink = MailSink(folder)
    controller = Controller(sink, hostname=host, port=port, ready_timeout=10)
    controller.start()
    return controller, sink

