"""SupportTicket on the time-skipping server: routing, SLA clocks in business hours,
waiting on the customer, resolution, rating and reopening, and the links to sales and
dunning. Real activities, SQLite, a real SMTP server."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from sqlalchemy import select
from temporalio import workflow
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from crm import db
from crm.models import Invoice, Task, Ticket, TicketMessage
from crm.repo import history
from crm.settings import Settings
from crm.support import open_billing_ticket
from tests import factories
from tests.waiting import eventually
from tests.workflows.conftest import Harness
from tests.workflows.tickets import open_ticket
from workflows.contracts import Person
from workflows.messages import DISPUTE_RESOLVED, DisputeResolution
from workflows.support_ticket import SupportTicket
from workflows.support_types import (
    AgentReply,
    Assignment,
    CustomerMessage,
    InfoRequest,
    Rating,
    Reopening,
    Resolution,
    SupportPolicy,
    TaskCompleted,
)

JANE = "jane@acme.example"
PARIS = ZoneInfo("Europe/Paris")
DAY = timedelta(days=1)
CUSTOMER = "integration"


def person(user: object) -> Person:
    return Person(user.id, user.name, user.email)  # type: ignore[attr-defined]


async def statuses(h: Harness, ticket_id: int) -> list[str]:
    async with db.unit_of_work(h.sessions) as session:
        rows = await history.history_of(session=session, object_type="ticket",
                                        object_id=ticket_id)
        return [r.to_status for r in rows]


async def row(h: Harness, ticket_id: int) -> Ticket:
    async with db.unit_of_work(h.sessions) as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        return ticket


async def test_a_ticket_is_acknowledged_routed_answered_in_thread_resolved_and_rated(
    harness: Harness,
) -> None:
    h = harness
    team = await factories.support_team(h.sessions)
    ticket_id, handle = await open_ticket(h.env.client, h.task_queue, h.sessions,
                                          SupportPolicy(), category="billing",
                                          message_id="<first@mail.acme.example>")

    [ack] = await eventually(lambda: h.mail.to(JANE))
    assert ack.subject == f"[Ticket #{ticket_id}] Cannot log in"
    assert ack.message["In-Reply-To"] == "<first@mail.acme.example>"
    assert ack.message["Reply-To"] == "support@crmflow.localhost"
    [assigned] = await eventually(lambda: h.mail.to(team.agent.email))
    assert assigned.purpose == "assigned_1"

    view = await handle.execute_update(SupportTicket.reply, AgentReply(
        "Your password was reset.", person(team.agent), team.agent.role))
    assert view.status == "open"
    assert [c.state for c in view.clocks] == ["met", "running"]
    mail = await eventually(lambda: [m for m in h.mail.to(JANE) if m.purpose == "reply_1"])
    assert mail[0].subject == f"Re: [Ticket #{ticket_id}] Cannot log in"
    assert mail[0].message["In-Reply-To"] == "<first@mail.acme.example>"
    assert ack.message["Message-ID"] in mail[0].message["References"]
    async with db.unit_of_work(h.sessions) as session:
        reply = await session.scalar(select(TicketMessage).where(
            TicketMessage.ticket_id == ticket_id, TicketMessage.author == "agent"))
        assert reply is not None and reply.message_id == mail[0].message["Message-ID"]

    view = await handle.execute_update(SupportTicket.resolve, Resolution(
        "Password reset", team.agent.id, team.agent.role))
    assert view.status == "resolved" and view.closes_at is not None
    survey = await eventually(lambda: [m for m in h.mail.to(JANE)
                                       if m.purpose == "resolution_1"])
    assert "Rate our answer from 1 to 5" in survey[0].text
    await handle.execute_update(SupportTicket.rate, Rating(5, "integration", "quick"))
    result = await handle.result()
    assert (result.status, result.rating) == ("closed", 5)
    ticket = await row(h, ticket_id)
    assert (ticket.rating, ticket.rating_comment, ticket.assignee_id) == (5, "quick",
                                                                          team.agent.id)
    assert ticket.first_responded_at is not None and ticket.closed_at is not None
    assert await statuses(h, ticket_id) == ["open", "resolved", "closed"]


def next_long_weekend(today: date) -> tuple[date, date]:
    """A French public holiday on a Friday or a Monday, some days ahead: the last working
    day before it (the ticket opens then), and the first working day after the weekend."""
    french = holidays.country_holidays("FR", years=[today.year, today.year + 1])
    for day in sorted(d for d in french if d > today + timedelta(days=2)):
        if day.weekday() not in (0, 4):
            continue
        before = day - timedelta(days=1 if day.weekday() == 4 else 3)
        after = day + timedelta(days=3 if day.weekday() == 4 else 1)
        if before not in french and after not in french:
            return before, after
    raise AssertionError("no long weekend ahead")


async def sleep_until(h: Harness, instant: datetime) -> None:
    await h.env.sleep(instant - await h.env.get_current_time())


def mail_for(h: Harness, address: str, purpose: str) -> list[object]:
    return [m for m in h.mail.to(address) if m.purpose == purpose]


async def test_clocks_count_business_hours_over_a_long_weekend_then_warn_and_breach(
    harness: Harness,
) -> None:
    """High priority: 2 working hours to answer. Opened at 16:00 the day before a long
    weekend (a public holiday from the ``holidays`` package beside it), one hour counts that
    day; the warning comes at 75 % (9:30 after the weekend), the breach at 10:00."""
    h = harness
    team = await factories.support_team(h.sessions)
    now = await h.env.get_current_time()
    before, after = next_long_weekend(now.astimezone(PARIS).date())
    await sleep_until(h, datetime.combine(before, time(16), PARIS))
    ticket_id, handle = await open_ticket(h.env.client, h.task_queue, h.sessions,
                                          SupportPolicy(), category="billing", priority="high")

    await eventually(lambda: mail_for(h, team.agent.email, "assigned_1"))
    view = await handle.query(SupportTicket.current_state)
    first_response, resolution = view.clocks
    due = datetime.combine(after, time(10), PARIS)
    assert first_response.state == "running"
    assert abs(first_response.due_at - due) < timedelta(minutes=1)
    # 16 working hours: 1 before the weekend, 8 the day after it, 7 the next day.
    resolved_by = datetime.combine(after + timedelta(days=1), time(16), PARIS)
    if after.weekday() == 4 or (after + DAY) in holidays.country_holidays("FR"):
        pytest.skip("the day after the long weekend is not a plain working day")
    assert abs(resolution.due_at - resolved_by) < timedelta(minutes=1)
    assert (await row(h, ticket_id)).first_response_due is not None

    await sleep_until(h, datetime.combine(after, time(9, 35), PARIS))
    [warning] = mail_for(h, team.agent.email, f"sla:first_response:warning:{team.agent.id}")
    assert "first response due" in warning.subject
    assert mail_for(h, team.lead.email, f"sla:first_response:breach:{team.lead.id}") == []

    await sleep_until(h, datetime.combine(after, time(10, 5), PARIS))
    [breach] = mail_for(h, team.lead.email, f"sla:first_response:breach:{team.lead.id}")
    assert "escalated to urgent" in breach.subject
    ticket = await row(h, ticket_id)
    assert (ticket.priority, ticket.opened_priority, ticket.escalated_at is not None) == (
        "urgent", "high", True)
    # The row keeps when the target was missed (the insights count it), not the resolution's.
    assert ticket.first_response_breached_at is not None
    assert abs(ticket.first_response_breached_at - due) < timedelta(minutes=1)
    assert ticket.resolution_breached_at is None
    view = await handle.query(SupportTicket.current_state)
    assert view.clocks[0].state == "breached" and view.clocks[0].remaining < timedelta(0)
    # After the breach a lead hands the ticket to someone else.
    view = await handle.execute_update(SupportTicket.assign, Assignment(
        person(team.other_agent), team.lead.id, team.lead.role))
    assert view.assignee_id == team.other_agent.id
    await handle.terminate("test over")


async def test_waiting_on_the_customer_pauses_the_resolution_clock_and_reminds(
    harness: Harness,
) -> None:
    h = harness
    team = await factories.support_team(h.sessions)
    policy = SupportPolicy(waiting_reminder=2 * DAY, auto_close_after=7 * DAY)
    ticket_id, handle = await open_ticket(h.env.client, h.task_queue, h.sessions, policy,
                                          category="billing")
    await eventually(lambda: mail_for(h, team.agent.email, "assigned_1"))

    view = await handle.execute_update(SupportTicket.request_info, InfoRequest(
        "a copy of the invoice", person(team.agent), team.agent.role))
    assert view.status == "waiting_on_customer"
    first_response, resolution = view.clocks
    assert (first_response.state, resolution.state, resolution.due_at) == ("met", "paused",
                                                                           None)
    left = resolution.remaining
    assert (await row(h, ticket_id)).waiting_since is not None

    await h.env.sleep(3 * DAY)
    assert [m.purpose for m in h.mail.to(JANE)] == [
        "acknowledgement", "reply_1", "wait_1:reminder_1"]
    view = await handle.execute_update(SupportTicket.customer_message, CustomerMessage(
        "Here it is.", CUSTOMER))
    assert view.status == "open"
    resumed = view.clocks[1]
    assert resumed.state == "running"
    # Three days waiting cost nothing: what was left is left (less the moments since).
    assert timedelta(0) <= left - resumed.remaining < timedelta(minutes=1)
    assert (await row(h, ticket_id)).waiting_since is None
    assert await statuses(h, ticket_id) == ["open", "waiting_on_customer", "open"]
    await handle.terminate("test over")


async def test_a_silent_customer_is_reminded_then_the_ticket_closes(harness: Harness) -> None:
    h = harness
    team = await factories.support_team(h.sessions)
    policy = SupportPolicy(waiting_reminder=2 * DAY, auto_close_after=7 * DAY)
    ticket_id, handle = await open_ticket(h.env.client, h.task_queue, h.sessions, policy)
    await eventually(lambda: mail_for(h, team.agent.email, "assigned_1"))
    await handle.execute_update(SupportTicket.request_info, InfoRequest(
        "your customer number", person(team.agent), team.agent.role))

    result = await handle.result()

    assert result.status == "closed"
    assert [m.purpose for m in h.mail.to(JANE)] == [
        "acknowledgement", "reply_1", "wait_1:reminder_1", "wait_1:reminder_2",
        "wait_1:reminder_3", "closed_for_silence"]
    async with db.unit_of_work(h.sessions) as session:
        changes = await history.history_of(session=session, object_type="ticket",
                                           object_id=ticket_id)
    assert changes[-1].reason == "no answer from the customer within 7 days"


async def test_a_resolved_ticket_reopened_by_the_customer_closes_when_the_window_ends(
    harness: Harness,
) -> None:
    h = harness
    team = await factories.support_team(h.sessions)
    ticket_id, handle = await open_ticket(h.env.client, h.task_queue, h.sessions,
                                          SupportPolicy(reopen_window=3 * DAY))
    await eventually(lambda: mail_for(h, team.agent.email, "assigned_1"))
    agent = team.agent
    await handle.execute_update(SupportTicket.resolve, Resolution("Done", agent.id, agent.role))
    await h.env.sleep(DAY)

    view = await handle.execute_update(SupportTicket.customer_message, CustomerMessage(
        "It is broken again.", CUSTOMER))  # writing again reopens it
    assert (view.status, view.reopenings, view.clocks[1].state) == ("open", 1, "running")
    await handle.execute_update(SupportTicket.resolve, Resolution("Done", agent.id, agent.role))
    view = await handle.execute_update(SupportTicket.reopen, Reopening("still broken", CUSTOMER))
    assert (view.status, view.reopenings) == ("open", 2)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(SupportTicket.rate, Rating(4, CUSTOMER))
    assert isinstance(refused.value.cause, ApplicationError)
    assert refused.value.cause.type == "WrongStatus"
    assert "only a resolved ticket can" in refused.value.cause.message
    await handle.execute_update(SupportTicket.resolve, Resolution("Fixed", agent.id, agent.role))

    result = await handle.result()

    assert (result.status, result.rating) == ("closed", None)
    assert [m.purpose for m in h.mail.to(JANE)] == ["acknowledgement", "resolution_1",
                                                    "resolution_2", "resolution_3"]
    assert await statuses(h, ticket_id) == ["open", "resolved", "open", "resolved", "open",
                                            "resolved", "closed"]
    assert (await row(h, ticket_id)).reopenings == 2


async def test_routing_takes_the_least_loaded_skilled_agent_or_queues_for_the_lead(
    harness: Harness,
) -> None:
    h = harness
    team = await factories.support_team(h.sessions)
    async with db.unit_of_work(h.sessions) as session:  # Sam already has two open tickets
        for n in range(2):
            session.add(Ticket(requester_email=f"x{n}@y.example", subject="old",
                               category="general", status="open", assignee_id=team.agent.id))

    general_id, general = await open_ticket(h.env.client, h.task_queue, h.sessions,
                                            SupportPolicy(), category="general")
    legal_id, legal = await open_ticket(h.env.client, h.task_queue, h.sessions,
                                        SupportPolicy(), category="legal", priority="low")

    await eventually(lambda: mail_for(h, team.other_agent.email, "assigned_1"))
    assert (await row(h, general_id)).assignee_id == team.other_agent.id
    [queued] = await eventually(lambda: mail_for(h, team.lead.email, f"queued:{team.lead.id}"))
    assert f"Ticket {legal_id} waits in the team queue" in queued.subject
    view = await legal.query(SupportTicket.current_state)
    assert view.status == "queued" and view.assignee_id is None
    with pytest.raises(WorkflowUpdateFailedError) as refused:  # who before what
        await legal.execute_update(SupportTicket.assign, Assignment(
            person(team.agent), team.agent.id, team.agent.role))
    assert refused.value.cause.type == "NotAllowed"  # type: ignore[union-attr]
    view = await legal.execute_update(SupportTicket.assign, Assignment(
        person(team.agent), team.lead.id, team.lead.role))
    assert (view.status, view.assignee_id) == ("open", team.agent.id)
    assert await statuses(h, legal_id) == ["queued", "open"]
    for handle in (general, legal):
        await handle.terminate("test over")


async def test_a_complaint_from_an_owned_account_gives_its_sales_rep_a_follow_up(
    harness: Harness,
) -> None:
    h = harness
    sales = await factories.sales_team(h.sessions)
    await factories.support_team(h.sessions)
    lead = await factories.qualified_lead(h.sessions, sales.rep)  # Jane's account, Alice's
    ticket_id, handle = await open_ticket(h.env.client, h.task_queue, h.sessions,
                                          SupportPolicy(), category="complaint",
                                          subject="Nobody calls back")

    async def follow_up() -> list[Task]:
        async with db.unit_of_work(h.sessions) as session:
            return list(await session.scalars(select(Task).where(
                Task.kind == "sales_follow_up")))

    [task] = await eventually(follow_up)
    assert (task.assignee_id, task.related_type, task.related_id) == (sales.rep.id, "ticket",
                                                                      ticket_id)
    assert task.title == "Follow up Jane Buyer's complaint: Nobody calls back"
    assert (await row(h, ticket_id)).account_id == lead.account_id
    await handle.terminate("test over")


async def test_a_requested_document_goes_through_a_back_office_check_before_resolving(
    harness: Harness,
) -> None:
    h = harness
    team = await factories.support_team(h.sessions)
    agent = team.agent
    ticket_id, handle = await open_ticket(h.env.client, h.task_queue, h.sessions,
                                          SupportPolicy(), category="billing",
                                          subject="New address after losing my SIM card")
    await eventually(lambda: mail_for(h, agent.email, "assigned_1"))
    await handle.execute_update(SupportTicket.request_info, InfoRequest(
        "a proof of address", person(agent), agent.role, check="check the proof document"))

    view = await handle.execute_update(SupportTicket.customer_message, CustomerMessage(
        "Attached.", CUSTOMER))
    assert view.status == "back_office"
    [task_id] = view.open_tasks
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(SupportTicket.resolve, Resolution("ok", agent.id,
                                                                      agent.role))
    assert refused.value.cause.type == "MissingInformation"  # type: ignore[union-attr]

    await handle.signal(SupportTicket.task_completed, TaskCompleted(task_id, "proof ok"))

    async def reopened() -> bool:
        return (await statuses(h, ticket_id))[-1] == "open"

    await eventually(reopened)
    async with db.unit_of_work(h.sessions) as session:
        task = await session.get(Task, task_id)
        assert task is not None
        assert (task.title, task.assignee_id) == (
            f"Ticket {ticket_id}: check the proof document", agent.id)
        changes = await history.history_of(session=session, object_type="ticket",
                                           object_id=ticket_id)
    assert [(c.to_status, c.reason) for c in changes][-2:] == [
        ("back_office", "the customer answered"), ("open", f"task {task_id} done: proof ok")]
    view = await handle.execute_update(SupportTicket.resolve, Resolution("Address changed",
                                                                         agent.id, agent.role))
    assert view.status == "resolved"
    await handle.terminate("test over")


@workflow.defn(name="DunningStandIn")
class DunningStandIn:
    """Stands for an invoice's dunning process: keeps the dispute resolutions it hears."""

    def __init__(self) -> None:
        self.heard: list[DisputeResolution] = []

    @workflow.run
    async def run(self) -> list[DisputeResolution]:
        await workflow.wait_condition(lambda: bool(self.heard))
        return self.heard

    @workflow.signal(name=DISPUTE_RESOLVED)
    def dispute_resolved(self, resolution: DisputeResolution) -> None:
        self.heard.append(resolution)


async def test_resolving_a_disputed_invoices_ticket_resolves_the_dispute(
    harness: Harness, sqlite_url: str,
) -> None:
    h = harness
    sales = await factories.sales_team(h.sessions)
    team = await factories.support_team(h.sessions)
    lead = await factories.qualified_lead(h.sessions, sales.rep)
    async with db.unit_of_work(h.sessions) as session:
        invoice = Invoice(number="INV-7", account_id=lead.account_id, amount=1200,
                          issued_on=date(2026, 11, 1), due_on=date(2026, 12, 1))
        session.add(invoice)
    assert lead.account_id is not None
    dunning_queue = f"{h.task_queue}-dunning"
    async with Worker(h.env.client, task_queue=dunning_queue, workflows=[DunningStandIn],
                      workflow_runner=UnsandboxedWorkflowRunner()):
        dunning = await h.env.client.start_workflow(
            DunningStandIn.run, id=f"invoice-{invoice.id}", task_queue=dunning_queue)
        settings = Settings(database_url=sqlite_url, temporal_task_queue=h.task_queue)
        async with h.sessions() as session:
            ticket = await open_billing_ticket(session, h.env.client, settings, invoice.id,
                                               lead.account_id, "billed twice", None)
        async with h.sessions() as session:  # the same dispute again: the same ticket
            again = await open_billing_ticket(session, h.env.client, settings, invoice.id,
                                              lead.account_id, "billed twice", None)
        assert again.id == ticket.id
        assert (ticket.category, ticket.priority, ticket.invoice_id) == ("billing", "high",
                                                                         invoice.id)
        handle = h.env.client.get_workflow_handle(f"ticket-{ticket.id}")
        await eventually(lambda: mail_for(h, team.agent.email, "assigned_1"))

        agent = team.agent
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(SupportTicket.resolve, Resolution(
                "refunded", agent.id, agent.role))
        assert refused.value.cause.type == "MissingInformation"  # type: ignore[union-attr]
        await handle.execute_update(SupportTicket.resolve, Resolution(
            "billed twice indeed: credit note", agent.id, agent.role, upheld=True))

        [heard] = await dunning.result()
    assert heard == DisputeResolution(True, "billed twice indeed: credit note", agent.id,
                                      ticket.id)
    assert (await row(h, ticket.id)).dispute_upheld is True
    await handle.terminate("test over")
