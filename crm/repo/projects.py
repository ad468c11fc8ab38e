"""Projects: their templates, people, milestones, timesheets, expenses and totals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, TypeVar

import structlog
from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import Conflict, NotFound
from crm.models import (
    Expense,
    Invoice,
    Milestone,
    Payment,
    Project,
    ProjectMember,
    ProjectTemplate,
    Timesheet,
    User,
)
from crm.models.base import utcnow
from crm.project_templates import BUILT_IN, as_json, from_json
from crm.project_templates import ProjectTemplate as Template
from crm.repo import scopes
from crm.repo.scopes import Scope
from workflows.dunning_ladder import cents

log = structlog.get_logger(__name__)

OPEN = ("planned", "active", "delivered")
ENDED = ("closed", "cancelled")
Listing = Literal["mine", "team", "all"]
HOUR_PART = Decimal("0.01")
W = TypeVar("W", Timesheet, Expense)


# Templates ----------------------------------------------------------------------------


async def template_for(*, session: AsyncSession, product_line: str | None, default: str
                       ) -> Template:
    """The template of the product line, else the policy's default, else the built-in one."""
    row = None
    if product_line is not None:
        row = await session.scalar(select(ProjectTemplate).where(
            ProjectTemplate.product_line == product_line))
    row = row or await session.scalar(select(ProjectTemplate).where(
        ProjectTemplate.name == default))
    if row is not None:
        return from_json(row.plan)
    if default != BUILT_IN.name:
        log.warning("the policy's default project template does not exist; using the "
                    "built-in one", default_template=default)
    return BUILT_IN


async def list_templates(*, session: AsyncSession) -> list[ProjectTemplate]:
    return list(await session.scalars(select(ProjectTemplate).order_by(ProjectTemplate.id)))


async def get_template(*, session: AsyncSession, template_id: int) -> ProjectTemplate:
    row = await session.get(ProjectTemplate, template_id)
    if row is None:
        raise NotFound("project template", template_id)
    return row


async def save_template(*, session: AsyncSession, template: Template,
                        row: ProjectTemplate | None = None) -> ProjectTemplate:
    """A new template, or ``row`` replaced by it; a name or product line taken by another
    template is refused."""
    for column, value in ((ProjectTemplate.name, template.name),
                          (ProjectTemplate.product_line, template.product_line)):
        if value is None:
            continue
        other = await session.scalar(select(ProjectTemplate.id).where(column == value))
        if other is not None and (row is None or other != row.id):
            raise Conflict(f"project template {other} already has the {column.key} {value}")
    if row is None:
        row = ProjectTemplate(name=template.name, plan={})
        session.add(row)
    else:
        row.updated_at = utcnow()
    row.name, row.product_line, row.plan = template.name, template.product_line, as_json(template)
    await session.flush()
    return row


# Projects -----------------------------------------------------------------------------


async def get_project(*, session: AsyncSession, project_id: int) -> Project:
    project = await session.get(Project, project_id)
    if project is None:
        raise NotFound("project", project_id)
    return project


async def get_milestone(*, session: AsyncSession, project: Project, milestone_id: int
                        ) -> Milestone:
    milestone = await session.get(Milestone, milestone_id)
    if milestone is None or milestone.project_id != project.id:
        raise NotFound(f"milestone of project {project.id}", milestone_id)
    return milestone


async def list_projects(
    *, session: AsyncSession, user: User, scope: Listing = "all",
    within: ColumnElement[bool] = true(), status: str | None = None, limit: int = 50,
    offset: int = 0,
) -> list[Project]:
    """Newest first, ``within`` what the user may read. mine: the user manages the project
    or works on it; team: those and the projects of their team's sales (``crm.repo.scopes``).
    """
    shown = {"mine": Scope.OWN, "team": Scope.TEAM, "all": Scope.ALL}[scope]
    query = select(Project).where(within, scopes.within(Project, user, shown))
    if status:
        query = query.where(Project.status == status)
    query = query.order_by(Project.id.desc()).limit(limit).offset(offset)
    return list(await session.scalars(query))


async def milestones_of(*, session: AsyncSession, project_id: int) -> list[Milestone]:
    return list(await session.scalars(select(Milestone).where(
        Milestone.project_id == project_id).order_by(Milestone.position, Milestone.id)))


async def members_of(*, session: AsyncSession, project_id: int
                     ) -> list[tuple[ProjectMember, User]]:
    rows = await session.execute(
        select(ProjectMember, User).join(User, User.id == ProjectMember.user_id)
        .where(ProjectMember.project_id == project_id).order_by(User.id))
    return [(member, user) for member, user in rows]


async def invoices_of(*, session: AsyncSession, project_id: int) -> list[Invoice]:
    return list(await session.scalars(select(Invoice).where(
        Invoice.project_id == project_id).order_by(Invoice.id)))


async def complete_milestone(*, session: AsyncSession, milestone_id: int,
                             completed_at: datetime, completed_by_id: int) -> None:
    """Mark the milestone completed (its process decided it; the first record stands)."""
    milestone = await session.get(Milestone, milestone_id, with_for_update=True)
    if milestone is None:
        raise NotFound("milestone", milestone_id)
    if milestone.status != "completed":
        milestone.status = "completed"
        milestone.completed_at = completed_at
        milestone.completed_by_id = completed_by_id


# Work recorded against a project ------------------------------------------------------


async def record_timesheet(*, session: AsyncSession, project: Project, user_id: int,
                           worked_on: date, hours: Decimal, note: str | None,
                           recorded_by_id: int) -> Timesheet:
    row = Timesheet(project_id=project.id, user_id=user_id, worked_on=worked_on, hours=hours,
                    note=note, recorded_by_id=recorded_by_id)
    session.add(row)
    await session.flush()
    return row


async def record_expense(*, session: AsyncSession, project: Project, user_id: int,
                         incurred_on: date, amount: Decimal, description: str) -> Expense:
    row = Expense(project_id=project.id, user_id=user_id, incurred_on=incurred_on,
                  amount=amount, description=description)
    session.add(row)
    await session.flush()
    return row


async def work_of(*, session: AsyncSession, kind: type[W], project_id: int) -> list[W]:
    """The project's timesheets or expenses, oldest first."""
    return list(await session.scalars(select(kind).where(kind.project_id == project_id)
                                       .order_by(kind.id)))


@dataclass
class Totals:
    hours: Decimal
    labour: Decimal
    """The hours at the project's hourly cost."""
    expenses: Decimal
    costs: Decimal
    invoiced: Decimal
    paid: Decimal
    margin: Decimal
    """Invoiced less costs."""


async def totals(*, session: AsyncSession, project: Project) -> Totals:
    async def total(column: Any, *where: Any) -> Decimal:
        return Decimal(await session.scalar(select(func.coalesce(func.sum(column), 0))
                                            .where(*where)) or 0)

    hours = await total(Timesheet.hours, Timesheet.project_id == project.id)
    expenses = await total(Expense.amount, Expense.project_id == project.id)
    invoiced = await total(Invoice.amount, Invoice.project_id == project.id)
    paid = await total(Payment.amount, Payment.invoice_id == Invoice.id,
                       Invoice.project_id == project.id)
    labour = cents(hours * project.hourly_cost)
    costs = labour + cents(expenses)
    return Totals(hours.quantize(HOUR_PART), labour, cents(expenses), costs, cents(invoiced),
                  cents(paid), cents(invoiced) - costs)
