"""A stand-in for a project's process (sale to project is not built yet): it invoices a
milestone through ISSUE_INVOICE and waits to hear INVOICE_SETTLED."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from temporalio import workflow

from workflows.contracts import ISSUE_INVOICE, InvoiceLineToIssue, InvoiceToIssue, IssuedInvoice
from workflows.messages import INVOICE_SETTLED, InvoiceSettled


@dataclass
class Invoicing:
    account_id: int
    queue: str
    """Where the issuing activity runs (the CRM's worker)."""
    amount: Decimal = Decimal("1500.00")


@dataclass
class Invoiced:
    issued: IssuedInvoice
    issued_again: IssuedInvoice
    settled: InvoiceSettled


@workflow.defn
class MilestoneInvoicing:
    """Invoice a milestone, then wait until it is settled. It asks twice, as a retried
    activity would."""

    def __init__(self) -> None:
        self.settled: InvoiceSettled | None = None

    @workflow.run
    async def run(self, invoicing: Invoicing) -> Invoiced:
        request = InvoiceToIssue(
            purpose="milestone_1", account_id=invoicing.account_id, currency="EUR",
            lines=[InvoiceLineToIssue("Milestone 1: design", invoicing.amount)],
            due_on=workflow.now().date() + timedelta(days=30),
            notify_process_id=workflow.info().workflow_id,
        )
        issued, again = [await workflow.execute_activity(
            ISSUE_INVOICE, request, result_type=IssuedInvoice, task_queue=invoicing.queue,
            start_to_close_timeout=timedelta(seconds=30)) for _ in range(2)]
        await workflow.wait_condition(lambda: self.settled is not None)
        assert self.settled is not None
        return Invoiced(issued, again, self.settled)

    @workflow.signal(name=INVOICE_SETTLED)
    def invoice_settled(self, settled: InvoiceSettled) -> None:
        self.settled = settled
