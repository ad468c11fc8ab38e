"""Another process invoices: ISSUE_INVOICE makes the invoice once and starts its dunning
(commit, then start); the process hears INVOICE_SETTLED when the invoice is paid."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from crm import db
from crm.models import Invoice, ProcessStart
from crm.settings import Settings
from crmflow.mail_sink import MailSink
from tests import factories
from tests.waiting import eventually
from tests.workflows.invoices import CUSTOMER
from tests.workflows.milestone_invoicing import Invoicing, MilestoneInvoicing
from worker.main import build_worker
from workflows.contracts import IssuedInvoice
from workflows.dunning_types import PaymentReceived
from workflows.invoice_dunning import InvoiceDunning
from workflows.messages import InvoiceSettled


async def test_an_invoice_issued_by_a_process_is_made_once_and_its_payment_told(
    time_skipping: WorkflowEnvironment, sqlite_url: str, mail_sink: tuple[MailSink, int],
    tmp_path: Path,
) -> None:
    env = time_skipping
    queue = f"test-{uuid.uuid4()}"
    settings = Settings(database_url=sqlite_url, smtp_port=mail_sink[1], data_dir=tmp_path,
                        temporal_task_queue=queue)
    engine = db.create_engine(sqlite_url)
    sessions = db.create_sessions(engine)
    account_id = await factories.customer(sessions)

    async with build_worker(env.client, settings, sessions), Worker(
        env.client, task_queue=f"{queue}-projects", workflows=[MilestoneInvoicing]
    ):
        project = await env.client.start_workflow(
            MilestoneInvoicing.run, Invoicing(account_id, queue), id="project-1",
            task_queue=f"{queue}-projects")

        async def the_invoice() -> int | None:
            async with db.unit_of_work(sessions) as session:
                return await session.scalar(select(Invoice.id))

        invoice_id = await eventually(the_invoice)
        dunning = env.client.get_workflow_handle(f"invoice-{invoice_id}")
        await eventually(lambda: _dunning_runs(dunning))
        await dunning.execute_update(InvoiceDunning.record_payment,
                                     PaymentReceived(Decimal(1500), "PSP-42"))
        invoiced = await project.result()

    assert invoiced.issued == invoiced.issued_again == IssuedInvoice(
        invoice_id, "INV-000001", Decimal("1500.00"), f"invoice-{invoice_id}")
    assert invoiced.settled == InvoiceSettled(invoice_id, "paid")
    assert [m.purpose for m in mail_sink[0].to(CUSTOMER)] == ["paid"]
    async with db.unit_of_work(sessions) as session:
        invoice = await session.get(Invoice, invoice_id)
        starts = list(await session.scalars(select(ProcessStart)))
        count = await session.scalar(select(func.count(Invoice.id)))
    assert count == 1
    assert invoice is not None and invoice.idempotency_key == "project-1:milestone_1"
    assert [(s.workflow_id, s.started_at is not None) for s in starts] == [
        (f"invoice-{invoice_id}", True)]
    await engine.dispose()


async def _dunning_runs(handle: object) -> bool:
    try:
        await handle.describe()  # type: ignore[attr-defined]
    except Exception:
        return False
    return True
