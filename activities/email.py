"""Email: render a template, record it in the outbox, send it over SMTP, once per purpose.

The outbox row, keyed by the workflow id and the email's purpose, is written before the SMTP
conversation and claimed by the attempt that talks to the server (``sending``, with a lease
of one SMTP timeout): an attempt that finds the row sent or failed does nothing; one that
finds another attempt's lease running backs off and retries later.

An email no retry can deliver — the server refused it for good (a 5xx answer: 550 unknown
user) or the data cannot make an email — is not retried: its row becomes ``failed`` with
the reason, the owner of the email's object gets a task (``crm.repo.outbox.owner_of``), and
the workflow hears ``refused`` and goes on without it.

The moment the server accepts the message the attempt records it in its heartbeat details
(``{"stage": "accepted", "key": …, "message_id": …}``), then marks the row sent, retrying
that write within the attempt (backing off, still heartbeating, never talking SMTP again)
until the database answers. An attempt whose heartbeat details say the server accepted the
message (its worker died, or it ran out of time while the database was down) does not talk
SMTP at all: it only marks the row sent.

What holds: each purpose reaches the SMTP server (attempts go on until it accepts the
message or refuses it for good), and reaches it once, except when the worker dies after the
server accepted the message and before either the outbox commit or those heartbeat details
reached the Temporal server. With the database up that window is the commit's round trip;
while it is down, the time the SDK holds the heartbeat back (nothing when it is the
attempt's first heartbeat, as it is for a conversation shorter than the heartbeat period;
otherwise up to the worker's heartbeat flush, a second: ``worker.main.HEARTBEAT_FLUSH``).
Then the next attempt, once the lease has expired, sends a second copy with the same
Message-ID (derived from the key), which mail clients show once.
Heartbeat details live as long as the scheduled activity: after a workflow reset a new one
has only the outbox to go by, and a row still ``sending`` is sent again once its lease ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
from collections.abc import Callable, Sequence
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

import aiosmtplib
import asyncpg
import jinja2
import structlog
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy import exc as sa_exc
from temporalio import activity
from temporalio.exceptions import ApplicationError

from crm import db
from crm.documents.attached import Document, document_of
from crm.documents.facts import FACTS
from crm.documents.render import pdf
from crm.files.store import Store, store_for
from crm.models import OutboxEmail
from crm.models.base import utcnow
from crm.repo import files, outbox
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

HEARTBEAT_EVERY = 5.0
"""Seconds between heartbeats; the workflow's heartbeat timeout is 15 s."""
MARK_SENT_TIMEOUT = 10.0
"""One try at marking the row sent gives up after this long (a hung connection)."""
MARK_SENT_BACKOFF = (0.25, 5.0)
"""First and longest pause between tries at marking the row sent."""


def render(template: str, context: dict[str, object]) -> tuple[str, str, str]:
    """Subject, text and HTML of a template: ``NAME.txt.j2`` starts with a Subject: line.

    The subject line is rendered on its own, so a value with a line break cannot spill into
    the body; the subject keeps it, and the email is then refused as one that cannot be built
    (a header never holds a line break)."""
    subject, text = _text_parts(template)
    html = TEMPLATES.get_template(f"{template}.html.j2").render(context)
    return subject.render(context).strip(" "), text.render(context).strip() + "\n", html


@functools.cache
def _text_parts(template: str) -> tuple[jinja2.Template, jinja2.Template]:
    """The subject line and the body of ``NAME.txt.j2``, compiled once."""
    name = f"{template}.txt.j2"
    assert TEMPLATES.loader is not None
    source, _, _ = TEMPLATES.loader.get_source(TEMPLATES, name)
    first_line, _, body = source.partition("\n")
    if not first_line.startswith("Subject: "):
        raise ValueError(f"template {name} must start with 'Subject: '")
    return (TEMPLATES.from_string(first_line.removeprefix("Subject: ")),
            TEMPLATES.from_string(body))


def message_id(idempotency_key: str) -> str:
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    return f"<{digest}@crmflow>"


def accepted(key: str, message_id: str) -> dict[str, str]:
    """The heartbeat details saying the SMTP server accepted the email under ``key``."""
    return {"stage": "accepted", "key": key, "message_id": message_id}


def accepted_earlier(details: Sequence[Any], key: str) -> bool:
    """Whether an earlier attempt's heartbeat details say the server accepted ``key``."""
    return any(
        isinstance(d, dict) and d.get("stage") == "accepted" and d.get("key") == key
        for d in details
    )


class SmtpMailer:
    """One SMTP conversation per message, with the settings' host, credentials and TLS."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def lease(self) -> timedelta:
        """How long an SMTP conversation can last at most."""
        return timedelta(seconds=self.settings.smtp_timeout_seconds)

    def compose(self, email: OutboxEmail, threading: EmailToSend | None = None,
                attached: Sequence[Attached] = ()) -> EmailMessage:
        """The message for an outbox row; ``threading`` adds the conversation's headers
        (In-Reply-To, References, Reply-To) the workflow asked for; ``attached``, the files
        it carries."""
        message = EmailMessage()
        message["From"] = self.settings.mail_from
        message["To"] = email.recipient
        message["Subject"] = email.subject
        message["Message-ID"] = email.message_id
        message["Date"] = formatdate(localtime=False)
        if threading is not None:
            if threading.in_reply_to:
                message["In-Reply-To"] = threading.in_reply_to
            if threading.references:
                message["References"] = " ".join(threading.references)
            if threading.reply_to:
                message["Reply-To"] = threading.reply_to
        message["X-Crmflow-Purpose"] = email.purpose
        message["X-Crmflow-Key"] = email.idempotency_key
        message.set_content(email.body_text)
        message.add_alternative(email.body_html, subtype="html")
        for name, content_type, content in attached:
            maintype, _, subtype = content_type.partition("/")
            message.add_attachment(content, maintype=maintype, subtype=subtype, filename=name)
        return message

    async def send(self, message: EmailMessage, on_accepted: Callable[[], None]) -> None:
        """Hand the message over; ``on_accepted`` runs the moment the server has taken it.

        Once it has, nothing is raised: a failing QUIT is no reason to send it again.
        """
        s = self.settings
        client = aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username,
            password=s.smtp_password.get_secret_value() if s.smtp_password else None,
            start_tls=s.smtp_starttls,
            use_tls=s.smtp_tls,
            timeout=s.smtp_timeout_seconds,
        )
        await client.connect()
        try:
            await client.send_message(message)
        except BaseException:
            client.close()
            raise
        on_accepted()
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError) as error:
            log.info("QUIT failed after the server accepted the message", error=repr(error))
        finally:
            client.close()


class Heartbeat:
    """Tells Temporal this attempt is alive, every beat carrying the attempt's details.

    The server keeps only the last details it was sent, so a beat without them would erase
    what an earlier one recorded. The first periodic beat waits a full period: the SDK sends
    an attempt's first heartbeat at once and holds later ones back (80% of the heartbeat
    timeout), and the one that must get out at once is "accepted".
    """

    def __init__(self, details: Sequence[Any] = (), every: float = HEARTBEAT_EVERY) -> None:
        self.details = tuple(details)
        self.every = every
        self._task: asyncio.Task[None] | None = None

    def record(self, *details: Any) -> None:
        """Make these the attempt's details and send them now."""
        self.details = details
        self.beat()

    def beat(self) -> None:
        activity.heartbeat(*self.details)

    async def __aenter__(self) -> Heartbeat:
        self._task = asyncio.create_task(self._beat_periodically())
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _beat_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            self.beat()


def database_unreachable(error: BaseException) -> bool:
    """Whether ``error`` says the database could not be reached (rather than refused)."""
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, (
        OSError,  # refused, reset, timed out (asyncio.timeout included)
        sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError,
        sa_exc.TimeoutError,  # no connection free in the pool
        # asyncpg's own, raised unwrapped while SQLAlchemy (re)connects:
        asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
        asyncpg.exceptions.OperatorInterventionError,  # shutting down, starting up
        asyncpg.exceptions.InsufficientResourcesError,  # too many connections
    ))


Attached = tuple[str, str, bytes]
"""A file an email carries: its name, type and content."""


class EmailActivities:
    def __init__(self, sessions: db.Sessions, mailer: SmtpMailer,
                 store: Store | None = None) -> None:
        self.sessions = sessions
        self.mailer = mailer
        self.store = store or store_for(mailer.settings)

    @activity.defn(name=SEND_EMAIL)
    async def send_email(self, email: EmailToSend) -> EmailOutcome:
        """Send the email unless the outbox, or an earlier attempt, says it was sent."""
        info = activity.info()
        key = f"{info.workflow_id}:{email.purpose}"
        async with Heartbeat(info.heartbeat_details) as heartbeat:
            if accepted_earlier(info.heartbeat_details, key):
                # The server has the message; its sender died before the outbox said so.
                heartbeat.beat()
                newly = await self._mark_sent(key, heartbeat)
                log.info("email accepted by the server in an earlier attempt, marked sent",
                         key=key, attempt=info.attempt)
                return EmailOutcome("sent" if newly else "already_sent", message_id(key))
            row = await self._claim(key, email)
            if row.status in outbox.FINAL:
                log.info("email already handled", key=key, status=row.status)
                if row.status == "sent":
                    return EmailOutcome("already_sent", row.message_id)
                return EmailOutcome("refused", row.message_id, row.last_error)
            return await self._send(row, email, heartbeat)

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
            if row.status in outbox.FINAL:
                return row
            now = utcnow()
            if (row.status == "sending" and row.attempted_at is not None
                    and now - row.attempted_at < self.mailer.lease):
                raise ApplicationError(f"another attempt is sending {key}; trying again later",
                                       type="EmailBeingSent")
            row.status, row.attempts, row.attempted_at = "sending", row.attempts + 1, now
            return row

    async def _send(
        self, row: OutboxEmail, email: EmailToSend, heartbeat: Heartbeat
    ) -> EmailOutcome:
        key = row.idempotency_key
        try:
            message = self.mailer.compose(row, email, await self._attached(row, email))
        except ValueError as error:
            # The data cannot make an email (a line break in a name or an address): no retry
            # can mend that, and the process must not wait on it — it goes on without it.
            reason = f"the email cannot be built: {error}"
            await self._fail(row, reason, permanent=True)
            log.warning("email cannot be built", key=key, error=str(error))
            return EmailOutcome("refused", row.message_id, reason)
        try:
            await self.mailer.send(
                message,
                on_accepted=lambda: heartbeat.record(accepted(key, row.message_id)),
            )
        except aiosmtplib.SMTPException as error:
            permanent = _is_permanent(error)
            await self._fail(row, str(error), permanent=permanent)
            if not permanent:
                raise
            log.warning("email refused by the server", key=key, error=str(error))
            return EmailOutcome("refused", row.message_id, str(error))
        await self._mark_sent(key, heartbeat)
        log.info("email sent", key=key, to=row.recipient, template=row.template)
        return EmailOutcome("sent", row.message_id)

    async def _attached(self, row: OutboxEmail, email: EmailToSend) -> list[Attached]:
        """The files the email carries: its document, rendered once and kept on its object
        (found there by the next email that carries it), chosen by the email's first
        attempt (DocumentError, a ValueError, when its template cannot make it)."""
        if row.attachments is None and (document := document_of(email)) is not None:
            kept_id = await self._document(document, email)
            async with db.unit_of_work(self.sessions) as session:
                await outbox.carry(session=session, email_id=row.id, file_ids=[kept_id])
            row.attachments = [kept_id]
        if not row.attachments:
            return []
        async with db.unit_of_work(self.sessions) as session:
            carried = [await files.get(session=session, file_id=n) for n in row.attachments]
        return [(f.name, f.content_type, await self.store.get(f.sha256)) for f in carried]

    async def _document(self, document: Document, email: EmailToSend) -> int:
        """The document's file: the one rendered before under its name, or rendered now."""
        settings = self.mailer.settings
        object_type, object_id = str(email.related_type), int(email.related_id or 0)
        async with db.unit_of_work(self.sessions) as session:
            kept = await files.rendered(session=session, object_type=object_type,
                                        object_id=object_id, name=document.name)
            context = document.context
            if kept is None and context is None:
                context = await FACTS[document.kind](session, object_id)
        if kept is not None:
            return kept.id
        content = pdf(document.template, context or {}, settings.document_templates)
        async with db.unit_of_work(self.sessions) as session:
            made = await files.attach(
                session=session, store=self.store, settings=settings, object_type=object_type,
                object_id=object_id, name=document.name, declared_type="application/pdf",
                content=content, by_id=None, kind=document.kind, source=files.RENDERED)
            return made.id

    async def _fail(self, row: OutboxEmail, reason: str, *, permanent: bool) -> None:
        """Record the failure; a permanent one is final and gives the owner a task."""
        async with db.unit_of_work(self.sessions) as session:
            task = await outbox.mark_failed(session=session, email_id=row.id, error=reason,
                                            permanent=permanent)
        if task is not None:
            log.info("email failed for good: its owner has a task", key=row.idempotency_key,
                     task_id=task.id, assignee_id=task.assignee_id)

    async def _mark_sent(self, key: str, heartbeat: Heartbeat) -> bool:
        """Mark the row sent, trying until the database answers; whether it was not yet."""
        pause, longest = MARK_SENT_BACKOFF
        while True:
            try:
                async with asyncio.timeout(MARK_SENT_TIMEOUT):
                    async with db.unit_of_work(self.sessions) as session:
                        row = await outbox.find(session=session, idempotency_key=key)
                        assert row is not None, f"outbox row {key} vanished"
                        return await outbox.mark_sent(session=session, email_id=row.id)
            except Exception as error:
                if not database_unreachable(error):
                    raise
                log.warning("database unreachable marking an accepted email sent; trying again",
                            key=key, error=repr(error), retry_in=pause)
            await asyncio.sleep(pause)
            heartbeat.beat()
            pause = min(pause * 2, longest)


def _is_permanent(error: aiosmtplib.SMTPException) -> bool:
    """5xx answers are final (the address does not exist); 4xx are worth another try."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        return all(500 <= r.code < 600 for r in error.recipients)
    return isinstance(error, aiosmtplib.SMTPResponseException) and 500 <= error.code < 600
