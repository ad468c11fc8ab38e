"""Invoices in workflow tests and recordings: issued as POST /invoices issues them, their
dunning started on the test's task queue, and the clock moved relative to the due date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from crm import db
from crm.models import User
from crm.models.base import utcnow
from crm.repo import history, invoices
from tests import factories
from workflows.contracts import InvoiceLineToIssue, InvoiceToIssue
from workflows.dunning_ladder import DunningPolicy, day_start
from workflows.dunning_types import InvoiceDunningInput
from workflows.invoice_dunning import InvoiceDunning

DAY = timedelta(days=1)
CUSTOMER = "billing@acme.example"


@dataclass
class Dunned:
    invoice_id: int
    handle: WorkflowHandle[Any, Any]
    env: WorkflowEnvironment
    due_day: datetime
    """The due date's start: the ladder's offsets count from it."""

    def day(self, days: int) -> date:
        """The date ``days`` after the due date."""
        return (self.due_day + days * DAY).date()

    async def at(self, offset: timedelta) -> None:
        """Let time pass until ``offset`` from the due date (the process acts meanwhile)."""
        wait = self.due_day + offset - await self.env.get_current_time()
        assert wait > timedelta(0), f"already past {offset} from the due date"
        await self.env.sleep(wait)


@dataclass
class Issued:
    """An invoice issued, its dunning not started yet."""

    invoice_id: int
    workflow_id: str
    data: InvoiceDunningInput
    due_day: datetime


async def issued_invoice(
    env: WorkflowEnvironment, sessions: db.Sessions, *,
    amount: str = "600.00", due_in: timedelta = 10 * DAY, policy: DunningPolicy | None = None,
    issued_by: User | None = None,
) -> Issued:
    """An invoice to Acme, due in ``due_in``, as POST /invoices issues it."""
    account_id = await factories.customer(sessions)
    due_on = (await env.get_current_time() + due_in).date()
    request = InvoiceToIssue("test", account_id, "EUR",
                             [InvoiceLineToIssue("CRM licence", Decimal(amount))], due_on)
    async with db.unit_of_work(sessions) as session:
        invoice, start = await invoices.issue(session=session, request=request,
                                              policy=policy or DunningPolicy(),
                                              issued_by=issued_by)
        assert start is not None
        start.started_at = utcnow()  # started here, on the test's queue
        data = TypeAdapter(InvoiceDunningInput).validate_json(start.input)
    return Issued(invoice.id, start.workflow_id, data, day_start(due_on))


async def start_dunning(env: WorkflowEnvironment, task_queue: str, issued: Issued, *,
                        task_timeout: timedelta | None = None) -> Dunned:
    handle = await env.client.start_workflow(
        InvoiceDunning.run, issued.data, id=issued.workflow_id, task_queue=task_queue,
        task_timeout=task_timeout)
    return Dunned(issued.invoice_id, handle, env, issued.due_day)


async def dunned_invoice(
    env: WorkflowEnvironment, task_queue: str, sessions: db.Sessions, *,
    amount: str = "600.00", due_in: timedelta = 10 * DAY, policy: DunningPolicy | None = None,
    issued_by: User | None = None, task_timeout: timedelta | None = None,
) -> Dunned:
    """An invoice to Acme, due in ``due_in``, with its dunning process running."""
    issued = await issued_invoice(env, sessions, amount=amount, due_in=due_in, policy=policy,
                                  issued_by=issued_by)
    return await start_dunning(env, task_queue, issued, task_timeout=task_timeout)


async def statuses(sessions: db.Sessions, invoice_id: int) -> list[tuple[str, str | None]]:
    async with db.unit_of_work(sessions) as session:
        rows = await history.history_of(session=session, object_type="invoice",
                                        object_id=invoice_id)
        return [(row.to_status, row.reason) for row in rows]
