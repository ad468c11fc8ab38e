"""An invoice followed for long (many part payments, a dispute) continues as new when the
server suggests it, carrying its state: every payment counts once, every recorded event keeps
its own key across runs, and the balance is right at the end."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from crm import db
from crm.models import Payment, StatusChange
from crm.settings import Settings
from crmflow.mail_sink import MailSink
from tests import factories
from tests.waiting import eventually
from tests.workflows.conftest import runs_of
from tests.workflows.invoices import CUSTOMER, dunned_invoice
from worker.main import build_worker
from workflows.dunning_types import DisputeDecision, DisputeRaised, PaymentReceived
from workflows.invoice_dunning import InvoiceDunning


async def test_a_long_lived_invoice_continues_as_new_carrying_its_payments(
    short_histories: WorkflowEnvironment,
    sqlite_url: str, mail_sink: tuple[MailSink, int], tmp_path: Path,
) -> None:
    env = short_histories
    queue = f"test-{uuid.uuid4()}"
    settings = Settings(database_url=sqlite_url, smtp_port=mail_sink[1], data_dir=tmp_path)
    engine = db.create_engine(sqlite_url)
    sessions = db.create_sessions(engine)
    petra = await factories.accountant(sessions)
    async with build_worker(env.client, settings, sessions, task_queue=queue):
        invoice = await dunned_invoice(env, queue, sessions, amount="1000.00")
        handle = invoice.handle
        for n in range(1, 13):
            await handle.execute_update(InvoiceDunning.record_payment,
                                        PaymentReceived(Decimal(50), f"PSP-{n}"))
            if n == 6:
                await handle.execute_update(InvoiceDunning.dispute, DisputeRaised("late"))
                await handle.execute_update(InvoiceDunning.resolve_dispute, DisputeDecision(
                    False, "on time", petra.id, petra.role))
        assert await eventually(lambda: _at_least(3, runs_of(env, handle.id)))
        state = await handle.query(InvoiceDunning.current_state)
        assert (state.balance, len(state.payments), state.disputes) == (Decimal(400), 12, 1)

        await handle.execute_update(InvoiceDunning.record_payment,
                                    PaymentReceived(Decimal(50), "PSP-12"))  # posted again
        await handle.execute_update(InvoiceDunning.record_payment,
                                    PaymentReceived(Decimal(400), "PSP-13"))
        result = await handle.result()

    assert (result.status, result.balance) == ("paid", Decimal(0))
    assert [m.purpose for m in mail_sink[0].to(CUSTOMER)] == ["paid"]
    async with db.unit_of_work(sessions) as session:
        payments = list(await session.scalars(select(Payment).order_by(Payment.id)))
        keys = list(await session.scalars(select(StatusChange.idempotency_key).where(
            StatusChange.object_type == "invoice").order_by(StatusChange.id)))
    assert [p.balance_after for p in payments] == [
        Decimal(950 - 50 * n) for n in range(12)] + [Decimal(0)]
    assert keys == [f"{handle.id}:status:payment_{n}:open" for n in range(1, 7)] + [
        f"{handle.id}:status:dispute_1:disputed", f"{handle.id}:status:dispute_1:open"] + [
        f"{handle.id}:status:payment_{n}:open" for n in range(7, 13)] + [
        f"{handle.id}:status:payment_13:paid"]
    await engine.dispose()


async def _at_least(n: int, count: object) -> int:
    found = int(await count)  # type: ignore[misc]
    return found if found >= n else 0
