"""Email: render a template, record it in the outbox, send it over SMTP, exactly once.

The outbox row, keyed by the workflow id and the email's purpose, is written before the SMTP
conversation and marked sent right after the server accepts the message: a retried
activity, or another worker after a crash, finds it sent and does not send it again. An
attempt that finds another one still talking to the server (a lease of one SMTP timeout)
backs off and retries later. The Message-ID derives from the same key, so in the one window
no outbox can close (the server accepted, the worker died before the commit) the resent
copy carries the same Message-ID and mail clients show it once.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib
import structlog
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from temporalio import activity
from temporalio.exceptions import ApplicationError

from crm import db
from crm.models import OutboxEmail
from crm.models.base import utcnow
from crm.repo import outbox
from crm.settings import Settings
from workflows.contracts import SEND_EMAIL, EmailOutcome, EmailToSend

log = structlog.get_logger(__name__)

TEMPLATES = Environment(
    loader=PackageLoader("activities", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(template: str, context: dict[str, object]) -> tuple[str, str, str]:
    """Subject, text and HTML of a template: ``NAME.txt.j2`` starts with a Subject: line."""
    text = TEMPLATES.get_template(f"{template}.txt.j2").render(context)
    first_line, _, body = text.partition("\n")
    if not first_line.startswith("Subject: "):
        raise ValueError(f"template {template}.txt.j2 must start with 'Subject: '")
    html = TEMPLATES.get_template(f"{template}.html.j2").render(context)
    return first_line.removeprefix("Subject: ").strip(), body.strip() + "\n", html


def message_id(idempotency_key: str) -> str:
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    return f"<{digest}@crmflow>"


class SmtpMailer:
    """One SMTP conversation per message, with the settings' host, credentials and TLS."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def lease(self) -> timedelta:
        """How long an SMTP conversation can last at most."""
        return timedelta(seconds=self.settings.smtp_timeout_seconds)

    def compose(self, email: OutboxEmail) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.settings.mail_from
        message["To"] = email.recipient
        message["Subject"] = email.subject
        message["Message-ID"] = email.message_id
        message["Date"] = formatdate(localtime=False)
        message["X-Crmflow-Purpose"] = email.purpose
        message["X-Crmflow-Key"] = email.idempotency_key
        message.set_content(email.body_text)
        message.add_alternative(email.body_html, subtype="html")
        return message

    async def send(self, message: EmailMessage) -> None:
        s = self.settings
        await aiosmtplib.send(
            message,
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username,
            password=s.smtp_password.get_secret_value() if s.smtp_password else None,
            start_tls=s.smtp_starttls,
            use_tls=s.smtp_tls,
            timeout=s.smtp_timeout_seconds,
        )


@asynccontextmanager
async def heartbeating(every: float = 5.0) -> AsyncIterator[None]:
    """Tell Temporal this attempt is alive while the block runs."""

    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(every)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()


class EmailActivities:
    def __init__(self, sessions: db.Sessions, mailer: SmtpMailer) -> None:
        self.sessions = sessions
        self.mailer = mailer

    @activity.defn(name=SEND_EMAIL)
    async def send_email(self, email: EmailToSend) -> EmailOutcome:
        """Send the email unless the outbox says this purpose was already sent."""
        key = f"{activity.info().workflow_id}:{email.purpose}"
        async with heartbeating():
            row = await self._claim(key, email)
            if row.status in ("sent", "refused"):
                log.info("email already handled", key=key, status=row.status)
                if row.status == "sent":
                    return EmailOutcome("already_sent", row.message_id)
                return EmailOutcome("refused", row.message_id, row.last_error)
            return await self._send(row)

    async def _claim(self, key: str, email: EmailToSend) -> OutboxEmail:
        """The outbox row for this key, marked as being sent by this attempt."""
        async with db.unit_of_work(self.sessions) as session:
            row = await outbox.find(session=session, idempotency_key=key)
            if row is None:
                subject, text, html = render(email.template, email.context)
                row = await outbox.reserve(session=session, email=OutboxEmail(
                    idempotency_key=key,
                    purpose=email.purpose,
                    template=email.template,
                    recipient=email.to,
                    subject=subject,
                    body_text=text,
                    body_html=html,
                    message_id=message_id(key),
                    related_type=email.related_type,
                    related_id=email.related_id,
                    workflow_id=activity.info().workflow_id,
                ))
            if row.status in ("sent", "refused"):
                return row
            now = utcnow()
            if (row.status == "sending" and row.attempted_at is not None
                    and now - row.attempted_at < self.mailer.lease):
                raise ApplicationError(f"another attempt is sending {key}; trying again later",
                                       type="EmailBeingSent")
            row.status, row.attempts, row.attempted_at = "sending", row.attempts + 1, now
            return row

    async def _send(self, row: OutboxEmail) -> EmailOutcome:
        message = self.mailer.compose(row)
        try:
            await self.mailer.send(message)
        except aiosmtplib.SMTPException as error:
            permanent = _is_permanent(error)
            async with db.unit_of_work(self.sessions) as session:
                await outbox.mark_failed(
                    session=session, email_id=row.id, error=str(error), permanent=permanent
                )
            if not permanent:
                raise
            log.warning("email refused by the server", key=row.idempotency_key, error=str(error))
            return EmailOutcome("refused", row.message_id, str(error))
        async with db.unit_of_work(self.sessions) as session:
            await outbox.mark_sent(session=session, email_id=row.id)
        log.info("email sent", key=row.idempotency_key, to=row.recipient, template=row.template)
        return EmailOutcome("sent", row.message_id)


def _is_permanent(error: aiosmtplib.SMTPException) -> bool:
    """5xx answers are final (the address does not exist); 4xx are worth another try."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        return all(500 <= r.code < 600 for r in error.recipients)
    return isinstance(error, aiosmtplib.SMTPResponseException) and 500 <= error.code < 600
