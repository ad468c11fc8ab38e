"""Recorded scenarios of SaleToProject: the project and the invoices' dunning processes run
on the recording worker. Each scenario ends every process it started (an unpaid invoice is
written off): one left running would fall due in a later scenario, once this scenario's
worker is gone, and stop the time-skipping server's clock."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError

from crm import db
from crm.models import Invoice, User
from crm.policies import Policies
from crm.project_templates import InstalmentPlan, MemberRole, MilestonePlan, ProjectTemplate
from crm.projects import start_project
from crm.repo import projects
from crm.settings import Settings
from tests import factories
from tests.histories.world import Scenario, World
from tests.waiting import eventually
from workflows.dunning_types import PaymentReceived, WriteOff
from workflows.invoice_dunning import InvoiceDunning
from workflows.project_types import Cancellation, MilestoneCompletion, ProjectPolicy
from workflows.sale_to_project import SaleToProject

DAY = timedelta(days=1)
TEMPLATE = ProjectTemplate(
    name="two steps",
    members=[MemberRole("billing", "accountant")],
    milestones=[MilestonePlan("Design", 3, Decimal(40), owner_role="account_owner"),
                MilestonePlan("Delivery", 30, Decimal(60))],
    schedule=[InstalmentPlan("Deposit", 0, Decimal(30)),
              InstalmentPlan("Balance", 20, Decimal(70))],
)


async def start(world: World, *, invoicing: str | None = None
                ) -> tuple[WorkflowHandle, int, User]:
    """A sale of Alice's, its project started from TEMPLATE (reminders every day); the
    project's id and its billing accountant."""
    accountant = await factories.accountant(world.sessions)
    async with db.unit_of_work(world.sessions) as session:
        await projects.save_template(session=session, template=TEMPLATE)
    sale_id = await factories.sale(world.sessions, world.team, invoicing=invoicing)
    policy = ProjectPolicy(milestone_reminder=DAY, default_template=TEMPLATE.name)
    async with world.sessions() as session:
        project, _ = await start_project(
            session, world.env.client, Settings(temporal_task_queue=world.task_queue),
            Policies(project=policy), sale_id)
    handle = world.env.client.get_workflow_handle(f"project-{sale_id}")
    await eventually(lambda: _kicked_off(handle))
    return handle, project.id, accountant


async def invoiced(world: World, project_id: int, count: int) -> list[WorkflowHandle]:
    """Once the project has issued ``count`` invoices: their dunning processes, running."""
    async def issued() -> list[int]:
        async with db.unit_of_work(world.sessions) as session:
            found = list(await session.scalars(select(Invoice.id).where(
                Invoice.project_id == project_id).order_by(Invoice.id)))
        return found if len(found) == count else []

    handles = [world.env.client.get_workflow_handle(f"invoice-{invoice_id}")
               for invoice_id in await eventually(issued)]
    await eventually(lambda: _started(handles[-1]))  # it starts after its invoice's commit
    return handles


def done(user: User, milestone_id: int) -> MilestoneCompletion:
    return MilestoneCompletion(milestone_id, user.id, user.role)


async def reminded_invoiced_closed(world: World) -> WorkflowHandle:
    """Design overdue (its owner reminded, then the manager too), both milestones done and
    invoiced, one invoice paid, the other written off: closed."""
    handle, project_id, accountant = await start(world)
    design, delivery = await _milestones(handle)
    await world.env.sleep(5 * DAY + DAY / 2)
    await handle.execute_update(SaleToProject.complete_milestone, done(world.team.rep, design))
    await invoiced(world, project_id, 1)
    await handle.execute_update(SaleToProject.complete_milestone,
                                done(world.team.manager, delivery))
    first, second = await invoiced(world, project_id, 2)
    await _last_word(first, InvoiceDunning.record_payment,
                     PaymentReceived(Decimal("4000.00"), "PSP-1"))
    await _last_word(second, InvoiceDunning.write_off,
                     WriteOff("goodwill", accountant.id, accountant.role))
    await handle.result()
    return handle


async def scheduled_then_cancelled(world: World) -> WorkflowHandle:
    """Schedule invoicing: the deposit at once, the balance on its day; then cancelled."""
    handle, project_id, accountant = await start(world, invoicing="schedule")
    await invoiced(world, project_id, 1)
    await world.env.sleep(20 * DAY + DAY / 2)
    dunning = await invoiced(world, project_id, 2)
    manager = world.team.manager
    await _last_word(handle, SaleToProject.cancel, Cancellation(
        "the customer's budget was cut", manager.id, manager.role))
    await handle.result()
    for unpaid in dunning:
        await _last_word(unpaid, InvoiceDunning.write_off,
                         WriteOff("project cancelled", accountant.id, accountant.role))
        await unpaid.result()
    return handle


async def _last_word(handle: WorkflowHandle, update: object, arg: object) -> None:
    """An update that ends the process: the time-skipping server may forget it once the
    workflow has completed ("update … not found"); the result shows it was taken."""
    with contextlib.suppress(RPCError):
        await handle.execute_update(update, arg)  # type: ignore[call-overload]


async def _milestones(handle: WorkflowHandle) -> list[int]:
    state = await handle.query(SaleToProject.current_state)
    return [p.milestone_id for p in state.milestones]


async def _kicked_off(handle: WorkflowHandle) -> bool:
    with contextlib.suppress(RPCError):
        return (await handle.query(SaleToProject.current_state)).status == "active"
    return False


async def _started(handle: WorkflowHandle) -> bool:
    try:
        await handle.describe()
    except RPCError:
        return False
    return True


SCENARIOS: dict[str, Scenario] = {
    "reminded-invoiced-closed": reminded_invoiced_closed,
    "scheduled-then-cancelled": scheduled_then_cancelled,
}
