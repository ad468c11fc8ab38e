"""Races between a payment and what the dunning process does on its own, or what an
accountant decides: the payment and the other take turns, and nothing is decided on a
balance that is no longer owed — never a reminder for a paid invoice.

As in ``test_races``: the process's own step is held in the middle of writing the invoice
(the row locked by the test), while the message is delivered."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from sqlalchemy import select
from temporalio.client import WorkflowUpdateFailedError

from crm import db
from crm.models import Invoice, Payment
from tests import factories
from tests.waiting import eventually
from tests.workflows.conftest import Harness
from tests.workflows.invoices import CUSTOMER, DAY, dunned_invoice, statuses
from tests.workflows.test_races import TASK_TIMEOUT, a_writer_waits, delivered, quiet, row_held
from workflows.dunning_contracts import RECORD_PAYMENT, UPDATE_INVOICE
from workflows.dunning_types import PaymentReceived, WriteOff
from workflows.invoice_dunning import InvoiceDunning


def purposes(h: Harness) -> list[str]:
    return [m.purpose for m in h.mail.to(CUSTOMER)]


async def test_a_payment_racing_a_reminder_gets_no_reminder_sent(
    harness_on_both: Harness,
) -> None:
    h = harness_on_both
    invoice = await dunned_invoice(h.env, h.task_queue, h.sessions, task_timeout=TASK_TIMEOUT)
    handle = invoice.handle
    await invoice.at(DAY + DAY / 24)
    await eventually(lambda: purposes(h) == ["level_1"])
    await quiet(handle)
    assert (await handle.query(InvoiceDunning.current_state)).status == "overdue"

    async with row_held(h.sessions, Invoice, invoice.invoice_id):
        clock = asyncio.create_task(invoice.at(7 * DAY + DAY / 24))
        await a_writer_waits(handle, UPDATE_INVOICE)  # reminder 1 is being recorded
        payment = asyncio.create_task(handle.execute_update(
            InvoiceDunning.record_payment, PaymentReceived(Decimal(600), "PSP-1")))
        await delivered(handle, payment)
    receipt = await payment
    await clock

    assert receipt.balance_after == Decimal(0)
    assert (await handle.result()).status == "paid"
    await eventually(lambda: purposes(h) == ["level_1", "paid"])  # reminder 1 never went
    assert (await statuses(h.sessions, invoice.invoice_id))[-1] == (
        "paid", "paid in full: payment PSP-1 of 600.00 EUR")


async def test_a_write_off_racing_the_payment_that_settles_the_invoice_is_refused(
    harness_on_both: Harness,
) -> None:
    h = harness_on_both
    petra = await factories.accountant(h.sessions)
    invoice = await dunned_invoice(h.env, h.task_queue, h.sessions, task_timeout=TASK_TIMEOUT)
    handle = invoice.handle
    await invoice.at(8 * DAY)
    await eventually(lambda: purposes(h) == ["level_1", "level_2"])
    await quiet(handle)

    async with row_held(h.sessions, Invoice, invoice.invoice_id):
        payment = asyncio.create_task(handle.execute_update(
            InvoiceDunning.record_payment, PaymentReceived(Decimal(600), "PSP-1")))
        await a_writer_waits(handle, RECORD_PAYMENT)  # the payment is being recorded
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(InvoiceDunning.write_off,
                                        WriteOff("never paying", petra.id, petra.role))
    await payment

    assert refused.value.cause.type == "WrongStatus"
    assert refused.value.cause.message == (
        f"invoice {invoice.invoice_id} is paid (paid in full: payment PSP-1 of 600.00 EUR), "
        f"so it cannot be written off")
    assert (await handle.result()).status == "paid"
    async with db.unit_of_work(h.sessions) as session:
        row = await session.get(Invoice, invoice.invoice_id)
        payments = list(await session.scalars(select(Payment)))
    assert row is not None and row.status == "paid"
    assert [(p.reference, p.balance_after) for p in payments] == [("PSP-1", Decimal(0))]
    assert [s for s, _ in await statuses(h.sessions, invoice.invoice_id)][-1] == "paid"
