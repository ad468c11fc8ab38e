"""A project that runs long (overdue milestones reminding every second here) continues as new
when the server suggests it, carrying its state: reminders are numbered on across runs and
none goes out twice, a completed milestone and a settled invoice stay so, and the project
closes on the last payment. (The dev server here suggests it after 40 events.)"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from crm import db
from crm.models import StatusChange
from crmflow.mail_sink import MailSink
from tests.waiting import eventually
from tests.workflows.conftest import runs_of
from tests.workflows.projects import DAY, running
from tests.workflows.test_sale_to_project import CONTACT, TWO_STEPS
from workflows.dunning_types import PaymentReceived
from workflows.invoice_dunning import InvoiceDunning
from workflows.project_types import MilestoneCompletion, ProjectPolicy
from workflows.sale_to_project import SaleToProject


async def test_a_long_project_continues_as_new_carrying_its_state(
    short_histories: WorkflowEnvironment,
    sqlite_url: str, mail_sink: tuple[MailSink, int], tmp_path: Path,
) -> None:
    env = short_histories
    async with running(env, sqlite_url, mail_sink, tmp_path) as w:
        team = w.team
        started = await w.start(ProjectPolicy(milestone_reminder=timedelta(seconds=1)),
                                template=TWO_STEPS, overdue_by=40 * DAY)
        handle = started.handle
        design, delivery = started.milestone("Design"), started.milestone("Delivery")
        await eventually(lambda: w.mail.to(CONTACT))  # kicked off: active, so it may complete
        await handle.execute_update(SaleToProject.complete_milestone, MilestoneCompletion(
            design, team.rep.id, team.rep.role))
        [first] = await eventually(lambda: w.invoices(started.project_id))
        await eventually(lambda: _runs(env, f"invoice-{first.id}"))
        await env.client.get_workflow_handle(f"invoice-{first.id}").execute_update(
            InvoiceDunning.record_payment, PaymentReceived(Decimal("4000.00"), "PSP-1"))

        assert await eventually(lambda: _runs(env, handle.id, at_least=3), timeout=60)
        state = await handle.query(SaleToProject.current_state)
        assert state.settled == {first.id: "paid"}
        assert [p.completed_by for p in state.milestones] == [team.rep.id, None]
        about_design = _about(w.mail.to(team.manager.email), design)

        await handle.execute_update(SaleToProject.complete_milestone, MilestoneCompletion(
            delivery, team.manager.id, team.manager.role))
        invoices = await eventually(lambda: _two(w.invoices(started.project_id)))
        await eventually(lambda: _runs(env, f"invoice-{invoices[1].id}"))
        await env.client.get_workflow_handle(f"invoice-{invoices[1].id}").execute_update(
            InvoiceDunning.record_payment, PaymentReceived(Decimal("6000.00"), "PSP-2"))
        result = await handle.result()

    assert (result.status, result.invoiced) == ("closed", Decimal("10000.00"))
    reminders = [m.purpose for m in w.mail.to(team.manager.email) if "reminder" in m.purpose]
    assert max(Counter(reminders).values()) == 1, "a reminder went out twice"
    about_delivery = _about(w.mail.to(team.manager.email), delivery)
    assert about_delivery == sorted(about_delivery) and len(about_delivery) >= 3
    assert _about(w.mail.to(team.manager.email), design) == about_design  # done, so no more
    async with db.unit_of_work(w.sessions) as session:
        keys = list(await session.scalars(select(StatusChange.idempotency_key).where(
            StatusChange.object_type == "project").order_by(StatusChange.id)))
    prefix = f"{handle.id}:status:"
    assert keys == [f"{prefix}kick_off:active", f"{prefix}milestone_{design}:active",
                    f"{prefix}invoice_milestone_{design}:active",
                    f"{prefix}milestone_{delivery}:active",
                    f"{prefix}invoice_milestone_{delivery}:active",
                    f"{prefix}delivered:delivered", f"{prefix}closed:closed"]


def _about(mail: list[Any], milestone_id: int) -> list[int]:
    """The numbers of the reminders about a milestone, in the order they came."""
    return [int(m.purpose.split(":")[1].removeprefix("reminder_")) for m in mail
            if m.purpose.startswith(f"milestone_{milestone_id}:reminder_")]


async def _runs(env: WorkflowEnvironment, workflow_id: str, at_least: int = 1) -> bool:
    return await runs_of(env, workflow_id) >= at_least


async def _two(found: object) -> list[object]:
    rows = await found  # type: ignore[misc]
    return rows if len(rows) == 2 else []
