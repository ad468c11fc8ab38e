"""Billing activities: invoices issued with their dunning process, payments, dunning facts.

``issue_invoice`` is the step another process (a project's) takes to invoice: it commits the
invoice with its recorded dunning start, then starts it (``crm.launcher``), once per issuing
process and purpose — a retry finds the invoice made and only starts what is still pending.
The others are short writes that dunning schedules (``workflows.steps.write``), each
idempotent.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import activity
from temporalio.client import Client

from crm import db, launcher
from crm.policies import PolicyStore
from crm.repo import invoices
from crm.settings import Settings
from workflows.contracts import ISSUE_INVOICE, InvoiceToIssue, IssuedInvoice
from workflows.dunning_contracts import (
    RECORD_PAYMENT,
    UPDATE_INVOICE,
    InvoiceUpdate,
    PaymentToRecord,
)
from workflows.registry import INVOICE_DUNNING


class BillingActivities:
    def __init__(
        self, sessions: db.Sessions, client: Client, settings: Settings, policies: PolicyStore
    ) -> None:
        self.sessions = sessions
        self.client = client
        self.settings = settings
        self.policies = policies

    @activity.defn(name=ISSUE_INVOICE)
    async def issue_invoice(self, request: InvoiceToIssue) -> IssuedInvoice:
        """Create the invoice and start its dunning, once per issuing process and purpose."""
        key = f"{activity.info().workflow_id}:{request.purpose}"
        async with self.sessions() as session:
            invoice, start = await invoices.issue(
                session=session, request=request, policy=self.policies.current().dunning,
                idempotency_key=key)
            issued = IssuedInvoice(invoice.id, invoice.number, invoice.amount,
                                   INVOICE_DUNNING.workflow_id(invoice.id))
            await session.commit()
            if start is not None:
                await launcher.launch(session, self.client, self.settings, start, fresh=True)
            else:
                await launcher.resume(session, self.client, self.settings, issued.workflow_id)
        return issued

    @activity.defn(name=RECORD_PAYMENT)
    async def record_payment(self, payment: PaymentToRecord) -> None:
        async with db.unit_of_work(self.sessions) as session:
            await invoices.record_payment(session=session, payment=payment)

    @activity.defn(name=UPDATE_INVOICE)
    async def update_invoice(self, update: InvoiceUpdate) -> datetime:
        """Write the dunning facts; answers when the process asked for it (Temporal's clock,
        so a time-skipping test's too), a time kept in its history."""
        async with db.unit_of_work(self.sessions) as session:
            await invoices.apply_dunning(session=session, update=update)
        return activity.info().scheduled_time
