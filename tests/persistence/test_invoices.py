"""Invoices in the database (SQLite and PostgreSQL): issued once per key with their recorded
dunning start, payments once per reference, the late fee line once, the balance."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from pydantic import TypeAdapter

from crm import db
from crm.errors import Conflict, MissingInformation
from crm.models import Account, Contact
from crm.models.base import utcnow
from crm.repo import invoices
from tests import factories
from workflows.contracts import InvoiceLineToIssue, InvoiceToIssue
from workflows.dunning_contracts import InvoiceUpdate, PaymentToRecord
from workflows.dunning_ladder import DunningPolicy
from workflows.dunning_types import InvoiceDunningInput


def request(account_id: int, purpose: str = "milestone_1") -> InvoiceToIssue:
    return InvoiceToIssue(purpose, account_id, "EUR", [
        InvoiceLineToIssue("Design", Decimal("1000")), InvoiceLineToIssue("Travel", Decimal("99.5"))
    ], date(2027, 1, 31), notify_process_id="project-3")


async def test_an_invoice_is_issued_once_per_key_with_its_dunning_recorded_to_start(
    sessions: db.Sessions,
) -> None:
    account_id = await factories.customer(sessions)
    for _ in range(2):
        async with db.unit_of_work(sessions) as session:
            invoice, start = await invoices.issue(
                session=session, request=request(account_id), policy=DunningPolicy(),
                idempotency_key="project-3:milestone_1")
            if start is not None:
                first, data = invoice.id, TypeAdapter(InvoiceDunningInput).validate_json(
                    start.input)
    assert invoice.id == first and start is None  # the second time: the same, nothing new
    assert (invoice.number, invoice.amount, invoice.status) == (
        f"INV-{first:06d}", Decimal("1099.50"), "open")
    assert [(line.position, line.amount) for line in invoice.lines] == [
        (1, Decimal("1000.00")), (2, Decimal("99.50"))]
    assert (data.invoice_id, data.customer, data.billing_email, data.total) == (
        first, "Acme", "billing@acme.example", Decimal("1099.50"))
    assert (data.notify_process_id, data.policy) == ("project-3", DunningPolicy())


async def test_an_invoice_goes_to_a_contact_without_a_billing_address_else_is_refused(
    sessions: db.Sessions,
) -> None:
    async with db.unit_of_work(sessions) as session:
        account = Account(name="Globex")
        session.add(account)
        await session.flush()
        with pytest.raises(MissingInformation) as refused:
            await invoices.issue(session=session, request=request(account.id),
                                 policy=DunningPolicy())
        assert refused.value.missing == ["billing_email"]
        session.add(Contact(account_id=account.id, name="Hank", email="hank@globex.example"))
        await session.flush()
        _, start = await invoices.issue(session=session, request=request(account.id),
                                        policy=DunningPolicy())
    assert start is not None
    assert TypeAdapter(InvoiceDunningInput).validate_json(start.input).billing_email == (
        "hank@globex.example")


async def test_payments_count_once_per_reference_and_the_late_fee_line_is_added_once(
    sessions: db.Sessions,
) -> None:
    account_id = await factories.customer(sessions)
    async with db.unit_of_work(sessions) as session:
        invoice, _ = await invoices.issue(session=session, request=request(account_id),
                                          policy=DunningPolicy())
        other, _ = await invoices.issue(session=session, request=request(account_id, "m2"),
                                        policy=DunningPolicy())
    payment = PaymentToRecord(invoice.id, "PSP-1", Decimal("99.50"), utcnow(), Decimal("1000"))
    fee = InvoiceUpdate(invoice.id, 4, Decimal("55.00"), "Late fee", None, Decimal(0), None)
    for _ in range(2):
        async with db.unit_of_work(sessions) as session:
            await invoices.record_payment(session=session, payment=payment)
            await invoices.apply_dunning(session=session, update=fee)
    async with db.unit_of_work(sessions) as session:
        with pytest.raises(Conflict, match=f"recorded on invoice {invoice.id}"):
            await invoices.record_payment(session=session, payment=PaymentToRecord(
                other.id, "PSP-1", Decimal("99.50"), utcnow(), Decimal(0)))
    closed = utcnow() + timedelta(days=1)
    async with db.unit_of_work(sessions) as session:
        row = await invoices.apply_dunning(session=session, update=InvoiceUpdate(
            invoice.id, 4, Decimal("55.00"), "Late fee", None, Decimal("1055.00"), closed))
        owed = invoices.balance(row)
        assert [(line.kind, line.amount) for line in row.lines] == [
            ("item", Decimal("1000.00")), ("item", Decimal("99.50")),
            ("late_fee", Decimal("55.00"))]
        assert [p.reference for p in row.payments] == ["PSP-1"]
        assert (row.level_reached, row.late_fee, row.closed_at) == (4, Decimal(55), closed)
    assert (owed.total, owed.paid, owed.credited, owed.open) == (
        Decimal("1154.50"), Decimal("99.50"), Decimal("1055.00"), Decimal("0.00"))
