"""Invoices: issued with their lines and their dunning process, paid, dunned; the balance."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm import launcher
from crm.errors import Conflict, MissingInformation, NotFound
from crm.models import Account, Contact, Invoice, InvoiceLine, Payment, ProcessStart, User
from crm.models.base import utcnow
from crm.repo.query import by_idempotency_key, where_given
from workflows.contracts import InvoiceToIssue, Person
from workflows.dunning_contracts import InvoiceUpdate, PaymentToRecord
from workflows.dunning_ladder import DunningPolicy, cents
from workflows.dunning_types import InvoiceDunningInput
from workflows.registry import INVOICE_DUNNING

FINAL = ("paid", "written_off", "credited")


@dataclass
class Balance:
    total: Decimal
    """The lines, late fee included."""
    paid: Decimal
    credited: Decimal
    open: Decimal


def balance(invoice: Invoice) -> Balance:
    total = sum((line.amount for line in invoice.lines), Decimal(0))
    paid = sum((payment.amount for payment in invoice.payments), Decimal(0))
    return Balance(cents(total), cents(paid), cents(invoice.credited),
                   cents(total - paid - invoice.credited))


async def issue(
    *,
    session: AsyncSession,
    request: InvoiceToIssue,
    policy: DunningPolicy,
    idempotency_key: str | None = None,
    issued_by: User | None = None,
) -> tuple[Invoice, ProcessStart | None]:
    """The invoice with its lines, and its dunning process recorded to start (the caller
    commits, then launches it). Under a key already used: that invoice, and None."""
    if idempotency_key is not None:
        existing = await by_idempotency_key(session, Invoice, idempotency_key)
        if existing is not None:
            return existing, None
    account = await session.get(Account, request.account_id)
    if account is None:
        raise NotFound("account", request.account_id)
    billing_email = account.billing_email or await session.scalar(
        select(Contact.email).where(Contact.account_id == account.id).order_by(Contact.id))
    if billing_email is None:
        raise MissingInformation(f"account {account.id} has no billing email and no contact "
                                 f"to send the invoice to", ["billing_email"])
    if not request.lines:
        raise MissingInformation("an invoice needs at least one line", ["lines"])
    invoice = Invoice(
        number=f"pending-{uuid.uuid4().hex}",  # 40 characters, replaced below
        account_id=account.id, sale_id=request.sale_id, project_id=request.project_id,
        milestone_id=request.milestone_id, currency=request.currency,
        amount=cents(sum((line.amount for line in request.lines), Decimal(0))),
        issued_on=utcnow().date(), due_on=request.due_on,
        issued_by_id=issued_by.id if issued_by else None, idempotency_key=idempotency_key,
        lines=[InvoiceLine(position=n, description=line.description, amount=cents(line.amount))
               for n, line in enumerate(request.lines, start=1)],
    )
    session.add(invoice)
    await session.flush()
    invoice.number = f"INV-{invoice.id:06d}"
    data = InvoiceDunningInput(
        invoice_id=invoice.id, number=invoice.number, account_id=account.id,
        customer=account.name, billing_email=billing_email, currency=invoice.currency,
        total=invoice.amount, due_on=invoice.due_on, policy=policy,
        accountant=Person(issued_by.id, issued_by.name, issued_by.email) if issued_by else None,
        notify_process_id=request.notify_process_id,
    )
    return invoice, await launcher.record_start(session, INVOICE_DUNNING, invoice.id, data)


async def get_invoice(*, session: AsyncSession, invoice_id: int) -> Invoice:
    invoice = await session.get(Invoice, invoice_id)
    if invoice is None:
        raise NotFound("invoice", invoice_id)
    return invoice


async def list_invoices(
    *,
    session: AsyncSession,
    status: str | None = None,
    overdue_on: date | None = None,
    account_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Invoice]:
    """Newest first; ``overdue_on``: only those still open whose due date had passed then."""
    query = where_given(select(Invoice), {Invoice.status: status, Invoice.account_id: account_id})
    if overdue_on is not None:
        query = query.where(Invoice.due_on < overdue_on, Invoice.status.not_in(FINAL))
    query = query.order_by(Invoice.id.desc()).limit(limit).offset(offset)
    return list(await session.scalars(query))


async def payment_by_reference(*, session: AsyncSession, reference: str) -> Payment | None:
    return await session.scalar(select(Payment).where(Payment.reference == reference))


async def record_payment(*, session: AsyncSession, payment: PaymentToRecord) -> Payment:
    """The payment, once: the one already recorded under its reference, if any."""
    existing = await payment_by_reference(session=session, reference=payment.reference)
    if existing is not None:
        if existing.invoice_id != payment.invoice_id:
            raise Conflict(f"payment {payment.reference} was recorded on invoice "
                           f"{existing.invoice_id}")
        return existing
    row = Payment(invoice_id=payment.invoice_id, reference=payment.reference,
                  amount=payment.amount, received_at=payment.received_at,
                  balance_after=payment.balance_after, recorded_by_id=payment.recorded_by_id)
    session.add(row)
    await session.flush()
    return row


async def apply_dunning(*, session: AsyncSession, update: InvoiceUpdate) -> Invoice:
    """Write what dunning knows of the invoice; its late fee line is added once."""
    invoice = await session.get(Invoice, update.invoice_id, with_for_update=True,
                                populate_existing=True)
    if invoice is None:
        raise NotFound("invoice", update.invoice_id)
    if update.late_fee and not any(line.kind == "late_fee" for line in invoice.lines):
        invoice.lines.append(InvoiceLine(position=len(invoice.lines) + 1, kind="late_fee",
                                         description=update.late_fee_line,
                                         amount=update.late_fee))
    invoice.late_fee = update.late_fee
    invoice.level_reached = update.level_reached
    invoice.promised_on = update.promised_on
    invoice.credited = update.credited
    invoice.closed_at = update.closed_at
    await session.flush()
    return invoice
