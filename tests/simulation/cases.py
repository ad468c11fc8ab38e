"""Past quote and invoice cases written into a CRM database as the live processes leave
them: a recorded start (the input as it was sent), the status history (people's decisions
with who and when) and the payments — at chosen offsets, so a simulation's numbers can be
computed by hand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from crm import db
from crm.launcher import _adapter
from crm.models import Payment, ProcessStart, StatusChange, User
from crm.repo import invoices
from tests import factories
from workflows.contracts import InvoiceLineToIssue, InvoiceToIssue, Person
from workflows.dunning_ladder import DunningPolicy
from workflows.quote_types import QuoteApprovalInput, QuotedLine
from workflows.registry import QUOTE_APPROVAL

LAST_QUARTER = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@dataclass
class Decision:
    after: timedelta
    status: str
    """``validated``, ``rejected``, ``sent``, ``won``, ``lost``."""
    by: User | None
    reason: str = ""


async def past_quote(sessions: db.Sessions, team: factories.SalesTeam, discount: str,
                     started: datetime, *decisions: Decision) -> int:
    """A quote submitted at ``started`` whose process ran to its end: the process's own
    status changes are not written (a simulation reads only what people did)."""
    lead = await factories.qualified_lead(sessions, team.rep)
    quote = await factories.quote(sessions, lead, team.rep, discount_pct=discount)
    data = QuoteApprovalInput(
        quote_id=quote.id, lead_id=lead.id, submission=1,
        author=Person(team.rep.id, team.rep.name, team.rep.email), team_id=quote.team_id,
        customer="Acme", customer_id=quote.account_id, contact_name="Jane Buyer",
        contact_email=lead.email, currency="EUR",
        lines=[QuotedLine("CRM licence", Decimal("10"), Decimal("100.00"))],
        discount_pct=Decimal(discount), total=Decimal(1000) * (100 - Decimal(discount)) / 100)
    async with db.unit_of_work(sessions) as session:
        session.add(ProcessStart(
            process=QUOTE_APPROVAL.name, workflow_id=f"quote-{quote.id}", object_type="quote",
            object_id=quote.id, input=_adapter(QuoteApprovalInput).dump_json(data).decode(),
            started_at=started))
        # Without their from_status, none of these changes ends a stay as the history reads
        # it: each began when the quote was created.
        for decision in decisions:
            session.add(StatusChange(
                object_type="quote", object_id=quote.id, to_status=decision.status,
                actor=f"user:{decision.by.id}" if decision.by else f"quote-{quote.id}",
                actor_user_id=decision.by.id if decision.by else None,
                reason=decision.reason or decision.status, workflow_id=f"quote-{quote.id}",
                changed_at=started + decision.after, entered_at=quote.created_at))
    return quote.id


async def past_invoice(sessions: db.Sessions, account_id: int, total: str, issued: datetime,
                       due_after: timedelta, *payments: tuple[timedelta, str]) -> str:
    """An invoice issued at ``issued``, due ``due_after`` later, and the payments received
    (after its due date, amount): its number."""
    async with db.unit_of_work(sessions) as session:
        invoice, start = await invoices.issue(
            session=session, policy=DunningPolicy(),
            request=InvoiceToIssue("simulation", account_id, "EUR",
                                   [InvoiceLineToIssue("Licence", Decimal(total))],
                                   (issued + due_after).date()))
        assert start is not None
        start.started_at, invoice.issued_on = issued, issued.date()
        due = datetime.combine(invoice.due_on, time(0), UTC)
        for n, (after_due, amount) in enumerate(payments):
            session.add(Payment(invoice_id=invoice.id, amount=Decimal(amount),
                                received_at=due + after_due, reference=f"{invoice.id}-{n}",
                                balance_after=Decimal(0)))
        return invoice.number
