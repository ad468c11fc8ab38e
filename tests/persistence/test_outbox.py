"""An email that fails for good: the outbox says ``failed`` with the reason, and whoever
answers for the email's object gets one task about it (real databases)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select

from crm import db
from crm.models import Invoice, OutboxEmail, Project, Task, Ticket
from crm.repo import outbox
from tests import factories


async def failed(sessions: db.Sessions, related_type: str, related_id: int) -> Task | None:
    """An email about the object, failed for good (twice: one task all the same)."""
    async with db.unit_of_work(sessions) as session:
        email = await outbox.reserve(session=session, email=OutboxEmail(
            idempotency_key=f"{related_type}-{related_id}:hello", purpose="hello",
            template="welcome", recipient="nobody@nowhere.example", subject="Hello",
            body_text="hi", body_html="<p>hi</p>", message_id="<x@crmflow>",
            related_type=related_type, related_id=related_id,
            workflow_id=f"{related_type}-{related_id}"))
        await outbox.mark_failed(session=session, email_id=email.id,
                                 error="(550, '5.1.1 unknown user')", permanent=True)
        task = await outbox.mark_failed(session=session, email_id=email.id,
                                        error="(550, '5.1.1 unknown user')", permanent=True)
        assert email.status == "failed" and email.last_error == "(550, '5.1.1 unknown user')"
        return task


async def test_the_owner_of_the_emails_object_gets_one_task(sessions: db.Sessions) -> None:
    team = await factories.sales_team(sessions)
    support = await factories.support_team(sessions)
    petra = await factories.accountant(sessions, "Petra")
    carl = await factories.accountant(sessions, "Carl")
    owned_lead = await factories.lead(sessions, owner_id=team.rep.id)
    unowned_lead = await factories.lead(sessions)
    quote = await factories.quote(sessions, await factories.qualified_lead(sessions, team.rep),
                                  team.other_rep)
    sale_id = await factories.sale(sessions, team)
    account_id = await factories.customer(sessions)
    async with db.unit_of_work(sessions) as session:
        project = Project(sale_id=sale_id, name="Roll-out", manager_id=team.manager.id)
        by_carl = Invoice(number="F-1", account_id=account_id, amount=Decimal(100),
                          issued_on=date(2026, 1, 1), due_on=date(2026, 2, 1),
                          issued_by_id=carl.id)
        by_admin = Invoice(number="F-2", account_id=account_id, amount=Decimal(100),
                           issued_on=date(2026, 1, 1), due_on=date(2026, 2, 1),
                           issued_by_id=team.admin.id)
        assigned = Ticket(requester_email="olga@fjord.example", subject="Help",
                          category="general", assignee_id=support.agent.id)
        queued = Ticket(requester_email="olaf@fjord.example", subject="Help",
                        category="general")
        session.add_all([project, by_carl, by_admin, assigned, queued])
    expected = {
        ("lead", owned_lead.id): team.rep.id,  # the lead's rep
        ("lead", unowned_lead.id): team.admin.id,  # nobody's yet: an admin
        ("quote", quote.id): team.other_rep.id,  # its author
        ("project", project.id): team.manager.id,  # its manager
        ("invoice", by_carl.id): carl.id,  # the accountant who issued it
        ("invoice", by_admin.id): petra.id,  # else the first accountant
        ("ticket", assigned.id): support.agent.id,  # its agent
        ("ticket", queued.id): support.lead.id,  # unassigned: a support lead
    }
    given = {}
    for (kind, object_id), _ in expected.items():
        task = await failed(sessions, kind, object_id)
        assert task is not None
        given[(kind, object_id)] = task.assignee_id
    assert given == expected
    async with db.unit_of_work(sessions) as session:
        tasks = list(await session.scalars(select(Task).order_by(Task.id)))
    assert len(tasks) == len(expected)  # one per failed email, however often recorded
    assert {t.kind for t in tasks} == {outbox.UNDELIVERED_TASK}
    first = tasks[0]
    assert first.title == "Email not delivered to nobody@nowhere.example: Hello"
    assert first.description is not None and "5.1.1 unknown user" in first.description
    assert (first.related_type, first.related_id, first.status) == ("lead", owned_lead.id,
                                                                   "open")


async def test_a_transient_failure_leaves_the_email_pending_and_nobody_tasked(
    sessions: db.Sessions,
) -> None:
    async with db.unit_of_work(sessions) as session:
        email = await outbox.reserve(session=session, email=OutboxEmail(
            idempotency_key="lead-1:hello", purpose="hello", template="welcome",
            recipient="jane@acme.example", subject="Hello", body_text="hi",
            body_html="<p>hi</p>", message_id="<x@crmflow>", related_type="lead",
            related_id=1))
        task = await outbox.mark_failed(session=session, email_id=email.id,
                                        error="(451, 'try later')", permanent=False)
        assert (task, email.status, email.last_error) == (None, "pending", "(451, 'try later')")
        assert await session.scalar(select(Task)) is None
        assert [e.id for e in await outbox.list_emails(session=session, status="pending")] == [
            email.id]
        assert await outbox.list_emails(session=session, status="failed") == []
