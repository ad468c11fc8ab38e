"""Recorded scenarios of InvoiceDunning."""

from __future__ import annotations

import contextlib
from decimal import Decimal

from temporalio.client import WorkflowHandle
from temporalio.service import RPCError

from tests import factories
from tests.histories.world import Scenario, World
from tests.workflows.invoices import DAY, dunned_invoice
from workflows.dunning_types import (
    DisputeDecision,
    DisputeRaised,
    PaymentReceived,
    PromiseToPay,
    WriteOff,
)
from workflows.invoice_dunning import InvoiceDunning
from workflows.messages import DISPUTE_RESOLVED, DisputeResolution


async def last_word(handle: WorkflowHandle, update: object, arg: object) -> None:
    """An update that ends the process: the time-skipping server may forget it once the
    workflow has completed ("update … not found"); the result shows it was taken."""
    with contextlib.suppress(RPCError):
        await handle.execute_update(update, arg)  # type: ignore[call-overload]


async def partly_paid_then_paid(world: World) -> WorkflowHandle:
    invoice = await dunned_invoice(world.env, world.task_queue, world.sessions)
    await invoice.at(8 * DAY)
    await invoice.handle.execute_update(InvoiceDunning.record_payment,
                                        PaymentReceived(Decimal(250), "PSP-1"))
    await invoice.at(15 * DAY)
    await last_word(invoice.handle, InvoiceDunning.record_payment,
                    PaymentReceived(Decimal(350), "PSP-2"))
    await invoice.handle.result()
    return invoice.handle


async def disputed_promised_then_written_off(world: World) -> WorkflowHandle:
    accountant = await factories.accountant(world.sessions)
    invoice = await dunned_invoice(world.env, world.task_queue, world.sessions)
    handle = invoice.handle
    await invoice.at(9 * DAY)
    await handle.execute_update(InvoiceDunning.dispute, DisputeRaised("wrong quantity"))
    await invoice.at(12 * DAY)
    await handle.execute_update(InvoiceDunning.resolve_dispute, DisputeDecision(
        False, "quantity as ordered", accountant.id, accountant.role))
    await handle.execute_update(InvoiceDunning.promise_to_pay,
                                PromiseToPay(invoice.day(20), accountant.id, accountant.role))
    await invoice.at(60 * DAY)  # the promise broken, then the formal notice and collections
    await last_word(handle, InvoiceDunning.write_off,
                    WriteOff("customer insolvent", accountant.id, accountant.role))
    await handle.result()
    return handle


async def dispute_upheld_by_its_ticket(world: World) -> WorkflowHandle:
    invoice = await dunned_invoice(world.env, world.task_queue, world.sessions)
    await invoice.handle.execute_update(InvoiceDunning.dispute,
                                        DisputeRaised("never delivered"))
    await invoice.at(2 * DAY)
    await invoice.handle.signal(DISPUTE_RESOLVED, DisputeResolution(True, "lost in transit"))
    await invoice.handle.result()
    return invoice.handle


SCENARIOS: dict[str, Scenario] = {
    "partly-paid-then-paid": partly_paid_then_paid,
    "disputed-promised-then-written-off": disputed_promised_then_written_off,
    "dispute-upheld-by-its-ticket": dispute_upheld_by_its_ticket,
}
