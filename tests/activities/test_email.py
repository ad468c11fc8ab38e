"""The email activity: rendered, recorded in the outbox, sent over real SMTP, exactly once."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.email import EmailActivities, SmtpMailer, message_id, render
from crm import db
from crm.models import OutboxEmail, Quote, StoredFile, Task
from crm.models.base import utcnow
from crm.repo import outbox
from crm.settings import Settings
from crmflow.mail_sink import MailSink
from tests import factories
from tests.conftest import free_port
from tests.faults import TcpProxy
from workflows.contracts import EmailOutcome, EmailToSend

WELCOME = EmailToSend(to="jane@acme.example", template="welcome", purpose="welcome",
                      context={"lead_name": "Jane"}, related_type="lead", related_id=1)
ACCEPTED = {"stage": "accepted", "key": "lead-1:welcome",
            "message_id": message_id("lead-1:welcome")}
"""The heartbeat details of an attempt whose SMTP server accepted the welcome email."""


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


async def test_a_refused_address_fails_for_good_and_its_owner_gets_a_task(
    sessions: db.Sessions, settings: Settings, activity_env: ActivityEnvironment,
) -> None:
    team = await factories.sales_team(sessions)
    lead = await factories.lead(sessions, owner_id=team.rep.id)
    assert lead.id == WELCOME.related_id
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
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.last_error is not None and "no such mailbox" in row.last_error
    async with db.unit_of_work(sessions) as session:
        [task] = await session.scalars(select(Task))
    assert (task.kind, task.assignee_id, task.related_type, task.related_id) == (
        "email_failed", team.rep.id, "lead", lead.id)
    assert "no such mailbox" in (task.description or "")


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


def capture_heartbeats(env: ActivityEnvironment) -> list[tuple[Any, ...]]:
    beats: list[tuple[Any, ...]] = []
    env.on_heartbeat = lambda *details: beats.append(details)
    return beats


async def test_the_attempt_records_in_its_heartbeat_that_the_server_accepted(
    sessions: db.Sessions, settings: Settings, mail_sink: tuple[MailSink, int],
    activity_env: ActivityEnvironment,
) -> None:
    beats = capture_heartbeats(activity_env)
    outcome = await activity_env.run(EmailActivities(sessions, SmtpMailer(settings)).send_email,
                                     WELCOME)
    assert outcome.status == "sent"
    assert beats and beats[-1] == (ACCEPTED,)  # the last word the Temporal server heard


async def test_a_retry_after_the_server_accepted_marks_it_sent_without_sending_again(
    sessions: db.Sessions, settings: Settings, mail_sink: tuple[MailSink, int],
    activity_env: ActivityEnvironment,
) -> None:
    sink, _ = mail_sink
    email = EmailActivities(sessions, SmtpMailer(settings))
    async with db.unit_of_work(sessions) as session:  # as the worker that died left it
        await outbox.reserve(session=session, email=in_flight(attempted_at=utcnow()))
    activity_env.info = dataclasses.replace(activity_env.info, attempt=2,
                                            heartbeat_details=[ACCEPTED])
    beats = capture_heartbeats(activity_env)

    started = time.monotonic()
    outcome = await activity_env.run(email.send_email, WELCOME)
    assert time.monotonic() - started < settings.smtp_timeout_seconds  # no wait for the lease

    assert outcome == EmailOutcome("sent", ACCEPTED["message_id"])
    assert sink.messages == []
    [row] = await outbox_rows(sessions)
    assert (row.status, row.attempts) == ("sent", 1)
    assert row.sent_at is not None
    assert beats and all(beat == (ACCEPTED,) for beat in beats)  # kept for a further retry

    again = await activity_env.run(email.send_email, WELCOME)
    assert again == EmailOutcome("already_sent", ACCEPTED["message_id"])
    assert sink.messages == []


class CuttingSink(MailSink):
    """Accepts every message, taking the database away (through a proxy) as it does."""

    def __init__(self, proxy: TcpProxy, loop: asyncio.AbstractEventLoop, outage: float) -> None:
        super().__init__()
        self.proxy, self.loop, self.outage = proxy, loop, outage

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        # The controller runs its own loop in its own thread; the proxy lives in the test's.
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._cut(), self.loop))
        return await super().handle_DATA(server, session, envelope)

    async def _cut(self) -> None:
        await self.proxy.cut()
        self.loop.call_later(self.outage, self.proxy.restore)


@pytest.fixture
async def database_proxy(postgres: str) -> AsyncIterator[TcpProxy]:
    url = make_url(postgres)
    async with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        yield proxy


async def test_a_database_outage_after_the_server_accepted_does_not_send_it_twice(
    postgres: str, database_proxy: TcpProxy, activity_env: ActivityEnvironment, tmp_path: Path,
) -> None:
    outage = 2.0
    port = free_port()
    sink = CuttingSink(database_proxy, asyncio.get_running_loop(), outage)
    controller = Controller(sink, hostname="127.0.0.1", port=port, ready_timeout=10)
    controller.start()
    proxied = make_url(postgres).set(port=database_proxy.port)
    engine = db.create_engine(proxied.render_as_string(hide_password=False))
    settings = Settings(database_url=postgres, smtp_port=port, data_dir=tmp_path,
                        smtp_timeout_seconds=5)
    beats = capture_heartbeats(activity_env)
    try:
        started = time.monotonic()
        outcome = await activity_env.run(
            EmailActivities(db.create_sessions(engine), SmtpMailer(settings)).send_email, WELCOME
        )
        took = time.monotonic() - started
    finally:
        await engine.dispose()
        controller.stop()

    assert outcome.status == "sent"
    assert took >= outage  # it waited for the database, within the attempt
    assert len(sink.messages) == 1
    direct = db.create_engine(postgres)
    [row] = await outbox_rows(db.create_sessions(direct))
    await direct.dispose()
    assert (row.status, row.attempts) == ("sent", 1)
    assert beats.count((ACCEPTED,)) >= 2  # it kept saying so while it waited
    assert all(beat == (ACCEPTED,) for beat in beats[beats.index((ACCEPTED,)):])


def test_html_escapes_what_people_typed(tmp_path: Path) -> None:
    subject, text, html = render("welcome", {"lead_name": "<script>x</script>"})
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert "<script>x</script>" in text  # plain text is not HTML
    assert subject == "Welcome to our newsletter, <script>x</script>"


async def test_an_email_that_cannot_be_built_is_refused_and_the_process_goes_on(
    sessions: db.Sessions, settings: Settings, mail_sink: tuple[MailSink, int],
    activity_env: ActivityEnvironment,
) -> None:
    sink, _ = mail_sink
    email = EmailActivities(sessions, SmtpMailer(settings))
    broken = EmailToSend(to="jane@acme.example", template="welcome", purpose="welcome",
                         context={"lead_name": "Jane\r\nBcc: everyone@acme.example"})

    outcome = await activity_env.run(email.send_email, broken)
    again = await activity_env.run(email.send_email, broken)

    assert (outcome.status, again.status) == ("refused", "refused")
    assert outcome.detail is not None and outcome.detail.startswith("the email cannot be built")
    assert sink.messages == []
    [row] = await outbox_rows(sessions)
    assert (row.status, row.attempts) == ("failed", 1)


async def a_quote(sessions: db.Sessions) -> tuple[factories.SalesTeam, int]:
    team = await factories.sales_team(sessions)
    lead = await factories.lead(sessions, owner_id=team.rep.id)
    async with db.unit_of_work(sessions) as session:
        quote = Quote(lead_id=lead.id, author_id=team.rep.id, team_id=team.rep.team_id)
        session.add(quote)
        await session.flush()
        return team, quote.id


def quote_sent(quote_id: int) -> EmailToSend:
    return EmailToSend(
        to="jane@acme.example", template="quote_sent", purpose="submission_1:sent",
        related_type="quote", related_id=quote_id, context={
            "recipient_name": "Jane", "quote_id": quote_id, "customer": "Acme",
            "author_name": "Alice", "discount_pct": "0", "total": "100.00 EUR",
            "valid_until": "2026-12-31",
            "lines": [{"description": "Audit", "quantity": "1", "unit_price": "100.00"}]})


async def test_the_quote_sent_carries_its_document_rendered_once(
    sessions: db.Sessions, settings: Settings, mail_sink: tuple[MailSink, int],
    activity_env: ActivityEnvironment,
) -> None:
    sink, _ = mail_sink
    _, quote_id = await a_quote(sessions)
    email = EmailActivities(sessions, SmtpMailer(settings))
    sent = await activity_env.run(email.send_email, quote_sent(quote_id))
    again = await activity_env.run(email.send_email, quote_sent(quote_id))
    assert (sent.status, again.status) == ("sent", "already_sent")
    [received] = sink.messages
    [(name, kind, content)] = received.attachments
    assert (name, kind, content[:5]) == (f"quote-{quote_id}-1.pdf", "application/pdf", b"%PDF-")
    async with db.unit_of_work(sessions) as session:
        [kept] = await session.scalars(select(StoredFile))
        row = await outbox.find(session=session,
                                idempotency_key=f"{activity_env.info.workflow_id}:"
                                                "submission_1:sent")
    assert (kept.object_type, kept.object_id, kept.kind, kept.source) == (
        "quote", quote_id, "quote", "rendered")
    assert row is not None and row.attachments == [kept.id]


async def test_a_document_its_template_cannot_make_fails_the_email_for_good(
    sessions: db.Sessions, settings: Settings, activity_env: ActivityEnvironment,
    tmp_path: Path,
) -> None:
    team, quote_id = await a_quote(sessions)
    company = tmp_path / "templates"
    company.mkdir()
    (company / "quote.html.j2").write_text("{{ signature_of_the_ceo }}")
    broken = Settings(**{**settings.model_dump(), "document_templates": company})
    outcome = await activity_env.run(EmailActivities(sessions, SmtpMailer(broken)).send_email,
                                     quote_sent(quote_id))
    assert outcome.status == "refused"
    assert "'signature_of_the_ceo' is undefined" in (outcome.detail or "")
    async with db.unit_of_work(sessions) as session:
        [task] = await session.scalars(select(Task))
        assert await session.scalar(select(func.count()).select_from(StoredFile)) == 0
    assert (task.kind, task.assignee_id, task.related_id) == (
        "email_failed", team.rep.id, quote_id)
