"""The email activity: rendered, recorded in the outbox, sent over real SMTP, exactly once."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import aiosmtplib
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.email import EmailActivities, SmtpMailer, message_id, render
from crm import db
from crm.models import OutboxEmail
from crm.models.base import utcnow
from crm.repo import outbox
from crm.settings import Settings
from crmflow.mail_sink import MailSink
from tests.conftest import free_port
from workflows.contracts import EmailToSend

WELCOME = EmailToSend(to="jane@acme.example", template="welcome", purpose="welcome",
                      context={"lead_name": "Jane"}, related_type="lead", related_id=1)


async def outbox_rows(sessions: db.Sessions) -> list[OutboxEmail]:
    async with db.unit_of_work(sessions) as session:
        return list(await session.scalars(select(OutboxEmail).order_by(OutboxEmail.id)))


async def test_an_email_is_sent_once_however_often_the_activity_runs(
    sessions: db.Sessions, settings: Settings, mail_sink: tuple[MailSink, int],
    activity_env: ActivityEnvironment,
) -> None:
    sink, _ = mail_sink
    email = EmailActivities(sessions, SmtpMailer(settings))

    first = await activity_env.run(email.send_email, WELCOME)
    second = await activity_env.run(email.send_email, WELCOME)

    assert (first.status, second.status) == ("sent", "already_sent")
    assert first.message_id == second.message_id
    [received] = sink.messages
    assert received.envelope_to == ["jane@acme.example"]
    assert received.subject == "Welcome to our newsletter, Jane"
    assert received.message["Message-ID"] == first.message_id
    assert received.key == "lead-1:welcome"
    html = received.message.get_body(preferencelist=("html",))
    assert html is not None and "Hello Jane," in html.get_content()
    [row] = await outbox_rows(sessions)
    assert (row.status, row.attempts, row.recipient, row.related_id) == (
        "sent", 1, "jane@acme.example", 1
    )
    assert row.sent_at is not None


async def test_an_attempt_that_died_before_the_server_accepted_is_sent_on_retry(
    sessions: db.Sessions, settings: Settings, mail_sink: tuple[MailSink, int],
    activity_env: ActivityEnvironment,
) -> None:
    sink, _ = mail_sink
    dead_port = Settings(**{**settings.model_dump(), "smtp_port": free_port()})
    with pytest.raises((aiosmtplib.SMTPException, OSError)):
        await activity_env.run(EmailActivities(sessions, SmtpMailer(dead_port)).send_email,
                               WELCOME)
    [row] = await outbox_rows(sessions)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error
    assert sink.messages == []

    outcome = await activity_env.run(EmailActivities(sessions, SmtpMailer(settings)).send_email,
                                     WELCOME)
    assert outcome.status == "sent"
    assert len(sink.messages) == 1
    [row] = await outbox_rows(sessions)
    assert (row.status, row.attempts) == ("sent", 2)


class RefusingServer:
    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, options: list[str]) -> str:
        return "550 5.1.1 no such mailbox"


async def test_a_refused_address_is_recorded_and_not_retried(
    sessions: db.Sessions, settings: Settings, activity_env: ActivityEnvironment,
) -> None:
    port = free_port()
    controller = Controller(RefusingServer(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        refusing = Settings(**{**settings.model_dump(), "smtp_port": port})
        email = EmailActivities(sessions, SmtpMailer(refusing))
        outcome = await activity_env.run(email.send_email, WELCOME)
        again = await activity_env.run(email.send_email, WELCOME)
    finally:
        controller.stop()
    assert outcome.status == "refused" and "no such mailbox" in (outcome.detail or "")
    assert again.status == "refused"
    [row] = await outbox_rows(sessions)
    assert (row.status, row.attempts) == ("refused", 1)


async def test_an_attempt_still_talking_to_the_server_is_not_doubled(
    sessions: db.Sessions, settings: Settings, mail_sink: tuple[MailSink, int],
    activity_env: ActivityEnvironment,
) -> None:
    sink, _ = mail_sink
    email = EmailActivities(sessions, SmtpMailer(settings))
    async with db.unit_of_work(sessions) as session:  # an attempt began a moment ago
        await outbox.reserve(session=session, email=in_flight(attempted_at=utcnow()))
    with pytest.raises(ApplicationError) as backed_off:
        await activity_env.run(email.send_email, WELCOME)
    assert backed_off.value.type == "EmailBeingSent" and not backed_off.value.non_retryable
    assert sink.messages == []

    async with db.unit_of_work(sessions) as session:  # that attempt's worker died long ago
        row = await outbox.find(session=session, idempotency_key="lead-1:welcome")
        assert row is not None
        row.attempted_at = utcnow() - timedelta(minutes=5)
    assert (await activity_env.run(email.send_email, WELCOME)).status == "sent"
    assert len(sink.messages) == 1
    [row] = await outbox_rows(sessions)
    assert (row.status, row.attempts) == ("sent", 2)


def in_flight(attempted_at: datetime) -> OutboxEmail:
    subject, text, html = render("welcome", {"lead_name": "Jane"})
    return OutboxEmail(
        idempotency_key="lead-1:welcome", purpose="welcome", template="welcome",
        recipient="jane@acme.example", subject=subject, body_text=text, body_html=html,
        message_id=message_id("lead-1:welcome"), status="sending", attempts=1,
        attempted_at=attempted_at,
    )


def test_html_escapes_what_people_typed(tmp_path: Path) -> None:
    subject, text, html = render("welcome", {"lead_name": "<script>x</script>"})
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert "<script>x</script>" in text  # plain text is not HTML
    assert subject == "Welcome to our newsletter, <script>x</script>"
