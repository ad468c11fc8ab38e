"""What the API shows of a project: its people, milestones, tasks, invoices, work recorded,
totals and history — from the CRM's rows, which its process keeps in step."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from api.schemas import EmailOut, Out, StatusChangeOut, TaskOut
from crm.models import Account, Expense, Invoice, Milestone, Project, Sale, Timesheet
from crm.repo import history, invoices, outbox, projects, tasks
from workflows.registry import SALE_TO_PROJECT


class ProjectOut(Out):
    id: int
    sale_id: int
    account_id: int | None
    customer: str | None
    name: str
    manager_id: int | None
    status: str
    template: str | None
    invoicing_policy: str
    currency: str
    amount: Decimal
    """The sale's amount."""
    created_at: datetime
    closed_at: datetime | None
    process_id: str


class ParticipantOut(BaseModel):
    user_id: int
    name: str
    email: str
    role: str


class MilestoneOut(Out):
    id: int
    position: int
    name: str
    owner_id: int | None
    due_on: date | None
    amount: Decimal | None
    billable_pct: Decimal | None
    status: str
    state: str
    """open, overdue (its due date has passed), or completed."""
    completed_at: datetime | None
    completed_by_id: int | None


class InvoiceOut(BaseModel):
    id: int
    number: str
    milestone_id: int | None
    status: str
    due_on: date
    total: Decimal
    paid: Decimal
    balance: Decimal


class TimesheetOut(Out):
    id: int
    user_id: int
    worked_on: date
    hours: Decimal
    note: str | None
    recorded_by_id: int | None
    created_at: datetime


class ExpenseOut(Out):
    id: int
    user_id: int
    incurred_on: date
    amount: Decimal
    description: str
    created_at: datetime


class TotalsOut(BaseModel):
    hours: Decimal
    labour: Decimal
    """The hours at the project's hourly cost."""
    expenses: Decimal
    costs: Decimal
    invoiced: Decimal
    paid: Decimal
    margin: Decimal
    """Invoiced less costs."""


class ProjectDetail(ProjectOut):
    hourly_cost: Decimal
    participants: list[ParticipantOut]
    milestones: list[MilestoneOut]
    tasks: list[TaskOut]
    invoices: list[InvoiceOut]
    totals: TotalsOut
    timesheets: list[TimesheetOut]
    expenses: list[ExpenseOut]
    history: list[StatusChangeOut]
    emails: list[EmailOut]


async def summary(session: AsyncSession, project: Project) -> ProjectOut:
    return ProjectOut.model_validate(await _facts(session, project))


async def detail(session: AsyncSession, project_id: int) -> ProjectDetail:
    """The project as the database has it now (its process may just have changed it)."""
    project = await session.get(Project, project_id, populate_existing=True)
    assert project is not None
    milestones = await projects.milestones_of(session=session, project_id=project_id)
    today = datetime.now(UTC).date()
    return ProjectDetail.model_validate({
        **await _facts(session, project),
        "hourly_cost": project.hourly_cost,
        "participants": [ParticipantOut(user_id=user.id, name=user.name, email=user.email,
                                        role=member.role)
                         for member, user in await projects.members_of(
                             session=session, project_id=project_id)],
        "milestones": [MilestoneOut.model_validate({**_columns(m), "state": _state(m, today)})
                       for m in milestones],
        "tasks": [TaskOut.model_validate(t) for t in await tasks.list_tasks(
            session=session, related_type="project", related_id=project_id)],
        "invoices": [_invoice(i) for i in await projects.invoices_of(session=session,
                                                                    project_id=project_id)],
        "totals": TotalsOut.model_validate(
            (await projects.totals(session=session, project=project)).__dict__),
        "timesheets": [TimesheetOut.model_validate(t) for t in await projects.work_of(
            session=session, kind=Timesheet, project_id=project_id)],
        "expenses": [ExpenseOut.model_validate(e) for e in await projects.work_of(
            session=session, kind=Expense, project_id=project_id)],
        "history": [StatusChangeOut.model_validate(c) for c in await history.history_of(
            session=session, object_type="project", object_id=project_id)],
        "emails": [EmailOut.model_validate(e) for e in reversed(await outbox.list_emails(
            session=session, related_type="project", related_id=project_id))],
    })


async def _facts(session: AsyncSession, project: Project) -> dict[str, Any]:
    sale = await session.get(Sale, project.sale_id)
    account = await session.get(Account, project.account_id) if project.account_id else None
    assert sale is not None
    return {**{name: getattr(project, name) for name in ProjectOut.model_fields
               if hasattr(Project, name)},
            "customer": account.name if account else None, "currency": sale.currency,
            "amount": sale.amount, "process_id": SALE_TO_PROJECT.workflow_id(sale.id)}


def _columns(milestone: Milestone) -> dict[str, Any]:
    return {name: getattr(milestone, name) for name in MilestoneOut.model_fields
            if hasattr(Milestone, name)}


def _state(milestone: Milestone, today: date) -> str:
    if milestone.status == "completed":
        return "completed"
    return "overdue" if milestone.due_on is not None and milestone.due_on < today else "open"


def _invoice(invoice: Invoice) -> InvoiceOut:
    owed = invoices.balance(invoice)
    return InvoiceOut(id=invoice.id, number=invoice.number, milestone_id=invoice.milestone_id,
                      status=invoice.status, due_on=invoice.due_on, total=owed.total,
                      paid=owed.paid, balance=owed.open)
