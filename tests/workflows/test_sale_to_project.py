"""SaleToProject on the time-skipping server: months of a project pass in seconds, with the
real activities (SQLite, SMTP) and the invoices' real dunning processes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from crm import db
from crm.models import Milestone, Project, ProjectMember, Task
from crm.policies import Policies
from crm.project_templates import InstalmentPlan, MemberRole, MilestonePlan, ProjectTemplate
from crm.projects import start_project
from crmflow.mail_sink import MailSink
from tests.waiting import eventually
from tests.workflows.projects import CONTACT, DAY, Projects, running
from workflows.dunning_ladder import day_start
from workflows.dunning_types import PaymentReceived, WriteOff
from workflows.invoice_dunning import InvoiceDunning
from workflows.project_types import Cancellation, MilestoneCompletion, ProjectPolicy
from workflows.sale_to_project import SaleToProject

TWO_STEPS = ProjectTemplate(
    name="two steps",
    members=[MemberRole("billing", "accountant")],
    milestones=[MilestonePlan("Design", 3, Decimal(40), owner_role="account_owner"),
                MilestonePlan("Delivery", 30, Decimal(60))],
)
"""Design (Alice's, due in 3 days, 40 %) and Delivery (the manager's, in 30 days, 60 %)."""


@pytest.fixture
async def world(time_skipping: WorkflowEnvironment, sqlite_url: str,
                mail_sink: tuple[MailSink, int], tmp_path: Path) -> AsyncIterator[Projects]:
    async with running(time_skipping, sqlite_url, mail_sink, tmp_path) as projects:
        yield projects


def completion(w: Projects, milestone_id: int, who: str = "manager") -> MilestoneCompletion:
    user = getattr(w.team, who)
    return MilestoneCompletion(milestone_id, user.id, user.role)


async def test_a_sale_becomes_a_project_set_up_from_its_template(world: Projects) -> None:
    w, team = world, world.team
    started = await w.start()

    mail = await eventually(lambda: w.mail.to(CONTACT))
    assert [(m.purpose, m.subject) for m in mail] == [
        ("kick_off:customer", "Your project with us starts: Acme: standard")]
    assert "Maria manages" in mail[0].text and "- Go-live: by" in mail[0].text
    for person, roles in ((team.manager, "project manager"), (team.rep, "account owner"),
                          (w.accountant, "billing")):
        [told] = await eventually(lambda p=person: w.mail.to(p.email))
        assert (told.purpose, told.subject) == (
            f"kick_off:{person.id}", f"Project {started.project_id} for Acme: you are the "
                                     f"{roles}")

    today = (await w.env.get_current_time()).date()
    async with db.unit_of_work(w.sessions) as session:
        project = await session.get(Project, started.project_id)
        milestones = list(await session.scalars(select(Milestone).order_by(Milestone.id)))
        members = {m.user_id: m.role for m in await session.scalars(select(ProjectMember))}
        tasks = list(await session.scalars(select(Task).order_by(Task.id)))
    assert project is not None
    assert (project.status, project.manager_id, project.template, project.invoicing_policy,
            project.hourly_cost) == ("active", team.manager.id, "standard", "on_milestone",
                                     Decimal("80.00"))
    assert members == {team.manager.id: "project_manager", team.rep.id: "account_owner",
                       w.accountant.id: "billing"}
    assert [(m.name, (m.due_on - today).days, m.owner_id, m.amount, m.status)
            for m in milestones] == [
        ("Kick-off workshop", 7, team.manager.id, Decimal("2000.00"), "open"),
        ("Configuration", 30, team.manager.id, Decimal("3000.00"), "open"),
        ("Training", 45, team.rep.id, Decimal("2000.00"), "open"),
        ("Go-live", 60, team.manager.id, Decimal("3000.00"), "open"),
    ]
    assert [(t.kind, t.assignee_id, t.related_id) for t in tasks] == [
        ("project_task", team.manager.id, started.project_id),
        ("project_task", team.rep.id, started.project_id),
        ("project_task", w.accountant.id, started.project_id)]
    assert tasks[0].title == (f"Schedule the kick-off workshop with the customer (project "
                              f"{started.project_id}, Acme)")
    assert await w.statuses(started.project_id) == [
        ("active", "kicked off from template standard: 4 milestones, managed by Maria")]

    # Asked again (a retried activity, a second click), the sale keeps its one project.
    async with w.sessions() as session:
        again, made = await start_project(session, w.env.client, w.settings,
                                          Policies(), started.sale_id)
        count = await session.scalar(select(func.count(Project.id)))
    assert (again.id, made, count) == (started.project_id, False, 1)
    state = await started.handle.query(SaleToProject.current_state)
    assert (state.status, state.waiting_for) == ("active", "reminder 1 about Kick-off workshop")
    await started.handle.terminate("test over")


async def test_an_overdue_milestone_reminds_its_owner_then_the_manager_until_done(
    world: Projects,
) -> None:
    w, team = world, world.team
    started = await w.start(ProjectPolicy(milestone_reminder=DAY), template=TWO_STEPS)
    design = started.milestone("Design")
    await eventually(lambda: w.mail.to(CONTACT))
    # Design is due in 3 days: overdue from the start of the 4th; reminders at the start of
    # days 4, 5 and 6 (UTC, whatever the time of day the test runs at); the 4th would be on
    # day 7.
    now = await w.env.get_current_time()
    await w.env.sleep(day_start(now.date()) + 6 * DAY + DAY / 2 - now)

    reminders = [m for m in w.mail.to(team.rep.email) if "reminder" in m.purpose]
    assert [m.purpose for m in reminders] == [
        f"milestone_{design}:reminder_{n}:{team.rep.id}" for n in (1, 2, 3)]
    assert reminders[0].subject == (f"Milestone Design of project {started.project_id} is "
                                    f"overdue (reminder 1)")
    escalated = [m for m in w.mail.to(team.manager.email) if "reminder" in m.purpose]
    assert [m.purpose for m in escalated] == [
        f"milestone_{design}:reminder_{n}:{team.manager.id}" for n in (2, 3)]
    assert escalated[0].subject.startswith("Escalated: milestone Design")
    assert "owned by Alice, was due on" in " ".join(escalated[0].text.split())

    await started.handle.execute_update(SaleToProject.complete_milestone,
                                        completion(w, design, "rep"))
    await w.env.sleep(10 * DAY)  # nothing more about Design; Delivery is not due yet
    assert len([m for m in w.mail.to(team.rep.email) if "reminder" in m.purpose]) == 3
    assert len([m for m in w.mail.to(team.manager.email) if "reminder" in m.purpose]) == 2
    await started.handle.terminate("test over")


async def test_milestones_invoice_their_shares_and_the_project_closes_only_when_all_is_settled(
    world: Projects,
) -> None:
    w = world
    started = await w.start(template=TWO_STEPS)
    design, delivery = started.milestone("Design"), started.milestone("Delivery")
    await eventually(lambda: w.mail.to(CONTACT))

    state = await started.handle.execute_update(SaleToProject.complete_milestone,
                                                completion(w, design, "rep"))
    assert state.status == "active"
    [first] = await eventually(lambda: w.invoices(started.project_id))
    today = (await w.env.get_current_time()).date()
    assert (first.amount, first.milestone_id, first.sale_id, first.due_on - today) == (
        Decimal("4000.00"), design, started.sale_id, timedelta(days=30))
    assert [line.description for line in first.lines] == ["Milestone Design (Acme: two steps)"]
    assert first.idempotency_key == f"project-{started.sale_id}:milestone_{design}"

    await started.handle.execute_update(SaleToProject.complete_milestone,
                                        completion(w, delivery))
    invoices = await eventually(lambda: _two(w.invoices(started.project_id)))
    second = invoices[1]
    assert second.amount == Decimal("6000.00")
    state = await eventually(lambda: _in(started.handle, "delivered",
                                         waiting_for="invoices to be settled"))

    # One paid, the other not yet: still delivered, not closed.
    dunning = w.env.client.get_workflow_handle(f"invoice-{first.id}")
    await dunning.execute_update(InvoiceDunning.record_payment,
                                 PaymentReceived(Decimal("4000.00"), "PSP-1"))
    await eventually(lambda: _settled(started.handle, first.id))
    assert (await started.handle.query(SaleToProject.current_state)).status == "delivered"
    assert (await w.project(started.project_id)).closed_at is None

    accountant = w.accountant
    other = w.env.client.get_workflow_handle(f"invoice-{second.id}")
    await other.execute_update(InvoiceDunning.write_off,
                               WriteOff("goodwill", accountant.id, accountant.role))
    result = await started.handle.result()

    assert (result.status, result.invoiced) == ("closed", Decimal("10000.00"))
    assert (await w.project(started.project_id)).closed_at is not None
    closing = await eventually(lambda: [m for m in w.mail.to(CONTACT)
                                        if m.purpose == "closed:customer"])
    assert closing[0].subject == f"Project {started.project_id} is complete: Acme: two steps"
    assert [s for s, _ in await w.statuses(started.project_id)] == [
        "active", "active", "active", "active", "active", "delivered", "closed"]
    assert (await w.statuses(started.project_id))[1:] == [
        ("active", "milestone Design completed"),
        ("active", "invoiced Milestone Design (Acme: two steps): 4000.00 EUR, due "
                   f"{first.due_on}"),
        ("active", "milestone Delivery completed"),
        ("active", "invoiced Milestone Delivery (Acme: two steps): 6000.00 EUR, due "
                   f"{second.due_on}"),
        ("delivered", "every milestone done: 2 invoices to be settled"),
        ("closed", "every milestone done and every invoice settled (1 paid, 1 written off)"),
    ]


async def test_the_schedule_invoices_on_its_dates_whatever_the_work(world: Projects) -> None:
    w = world
    template = ProjectTemplate(
        name="retainer", milestones=TWO_STEPS.milestones,
        schedule=[InstalmentPlan("Deposit", 0, Decimal(30)),
                  InstalmentPlan("Balance", 20, Decimal(70))])
    started = await w.start(template=template, invoicing="schedule")
    [deposit] = await eventually(lambda: w.invoices(started.project_id))
    assert (deposit.amount, deposit.milestone_id) == (Decimal("3000.00"), None)
    assert [line.description for line in deposit.lines] == ["Deposit (Acme: retainer)"]

    await w.env.sleep(21 * DAY)  # no milestone done, yet the balance is invoiced on its day
    invoices = await eventually(lambda: _two(w.invoices(started.project_id)))
    assert [(i.amount, i.due_on - deposit.due_on) for i in invoices] == [
        (Decimal("3000.00"), timedelta(0)), (Decimal("7000.00"), timedelta(days=20))]
    state = await started.handle.query(SaleToProject.current_state)
    assert (state.status, state.instalments_issued) == ("active", [1, 2])
    await started.handle.terminate("test over")


async def test_the_manager_cancels_with_a_reason_and_reminders_and_invoicing_stop(
    world: Projects,
) -> None:
    w, team = world, world.team
    started = await w.start(ProjectPolicy(milestone_reminder=DAY), template=TWO_STEPS)
    handle = started.handle
    await eventually(lambda: w.mail.to(CONTACT))

    refusals = []
    for cancellation in (Cancellation("no budget", team.rep.id, team.rep.role),
                         Cancellation("  ", team.manager.id, team.manager.role)):
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(SaleToProject.cancel, cancellation)
        refusals.append((refused.value.cause.type, refused.value.cause.message))
    assert refusals == [
        ("NotAllowed", f"only the project manager (Maria) or an admin cancels project "
                       f"{started.project_id}"),
        ("MissingInformation", "a cancellation needs its reason"),
    ]

    state = await handle.execute_update(SaleToProject.cancel, Cancellation(
        "the customer's budget was cut", team.manager.id, team.manager.role))
    assert (state.status, state.status_reason) == ("cancelled", "the customer's budget was cut")
    result = await handle.result()
    assert (result.status, result.invoiced) == ("cancelled", Decimal(0))
    await w.env.sleep(10 * DAY)

    for person in (team.manager, team.rep, w.accountant):
        assert [m.purpose for m in w.mail.to(person.email)] == [
            f"kick_off:{person.id}", f"cancelled:{person.id}"]  # never a reminder
    told = w.mail.to(team.rep.email)[1]
    assert "is cancelled: the customer's budget was cut." in " ".join(told.text.split())
    assert await w.invoices(started.project_id) == []
    assert (await w.statuses(started.project_id))[-1] == (
        "cancelled", "the customer's budget was cut")
    assert (await w.project(started.project_id)).closed_at is not None


async def test_completions_are_refused_saying_why(world: Projects) -> None:
    w, team = world, world.team
    started = await w.start(template=TWO_STEPS)
    handle = started.handle
    design, delivery = started.milestone("Design"), started.milestone("Delivery")
    await eventually(lambda: w.mail.to(CONTACT))
    await handle.execute_update(SaleToProject.complete_milestone, completion(w, design, "rep"))

    refusals = []
    for attempt in (completion(w, delivery, "rep"),  # Alice owns Design, not Delivery
                    completion(w, 999, "other_rep"),  # on nothing of the project
                    completion(w, 999),
                    completion(w, design)):
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(SaleToProject.complete_milestone, attempt)
        refusals.append((refused.value.cause.type, refused.value.cause.message))
    day = (await w.env.get_current_time()).date()
    assert refusals == [
        ("NotAllowed", "only the project manager (Maria) or the milestone's owner (Maria) "
                       "completes milestone Delivery"),
        ("NotAllowed", "only the project manager or a milestone's owner completes milestones"),
        ("WrongStatus", f"project {started.project_id} has no milestone 999"),
        ("WrongStatus", f"milestone Design of project {started.project_id} was completed on "
                        f"{day} by Alice"),
    ]
    admin = team.admin
    state = await handle.execute_update(SaleToProject.complete_milestone, MilestoneCompletion(
        delivery, admin.id, admin.role))
    assert [p.completed_by for p in state.milestones] == [team.rep.id, admin.id]
    state = await eventually(lambda: _in(handle, "delivered"))
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(SaleToProject.cancel, Cancellation(
            "too late", team.manager.id, team.manager.role))
    assert refused.value.cause.message == (
        f"project {started.project_id} is delivered (every milestone done: 2 invoices to be "
        f"settled), so it cannot be cancelled: only a project whose work is under way can")
    await handle.terminate("test over")


async def _two(found: object) -> list[object]:
    rows = await found  # type: ignore[misc]
    return rows if len(rows) == 2 else []


async def _in(handle: object, status: str, waiting_for: str | None = None) -> object:
    """The project's state once it is in ``status`` (and waits for ``waiting_for``, once
    the change has been recorded)."""
    state = await handle.query(SaleToProject.current_state)  # type: ignore[attr-defined]
    return state if state.status == status and waiting_for in (None, state.waiting_for) \
        else None


async def _settled(handle: object, invoice_id: int) -> bool:
    state = await handle.query(SaleToProject.current_state)  # type: ignore[attr-defined]
    return state.settled.get(invoice_id) == "paid"
