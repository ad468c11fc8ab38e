"""Your own workflows in the CRM database: definitions and their versions, enrolments and
the steps they entered, and what an enrolment reads of its object and its people."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import NotFound
from crm.models import (
    Account,
    Enrolment,
    EnrolmentStep,
    Invoice,
    Lead,
    Project,
    Quote,
    Task,
    Team,
    Ticket,
    User,
)
from crm.models.base import Base, utcnow
from crm.repo.leads import _loads
from workflows.own.objects import OBJECTS
from workflows.roles import Role

MODELS: dict[str, type[Base]] = {"lead": Lead, "account": Account, "quote": Quote,
                                 "invoice": Invoice, "ticket": Ticket, "project": Project}
MANAGERS = {"ticket": Role.SUPPORT_LEAD, "invoice": Role.ACCOUNTANT}
"""Who a step's ``manager`` is, by object (a sales manager for the others)."""
WORKERS = {"ticket": Role.SUPPORT_AGENT, "invoice": Role.ACCOUNTANT}
"""Whom round-robin and least-loaded choose among, by default (sales reps for the others)."""


async def object_row(session: AsyncSession, object_type: str, object_id: int) -> Any:
    row = await session.get(MODELS[object_type], object_id)
    if row is None:
        raise NotFound(object_type, object_id)
    return row


async def fields(*, session: AsyncSession, object_type: str, object_id: int) -> dict[str, Any]:
    """The object's fields as JSON holds them (numbers and dates as text)."""
    row = await object_row(session, object_type, object_id)
    return {name: _json(getattr(row, name, None)) for name in OBJECTS[object_type].fields}


def _json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


async def person_for(*, session: AsyncSession, object_type: str, object_id: int, rule: str,
                     role: str | None) -> User | None:
    """Who a step is for: the object's owner, its team's manager, or a person of its team
    chosen in turn (round-robin) or with the fewest open tasks and leads (least-loaded).
    None when nobody fits (the task is then left for whoever takes it)."""
    kind = OBJECTS[object_type]
    row = await object_row(session, object_type, object_id)
    if rule == "owner":
        owner = getattr(row, kind.owner) if kind.owner else None
        return await session.get(User, owner) if owner else None
    team_id = getattr(row, kind.team) if kind.team else None
    if rule == "manager":
        query = select(User).where(User.active, User.role == MANAGERS.get(
            object_type, Role.SALES_MANAGER).value)
        if team_id is not None:
            query = query.where(User.team_id == team_id)
        return (await session.scalars(query.order_by(User.id))).first()
    if team_id is None:
        return None
    chosen_role = role or WORKERS.get(object_type, Role.SALES_REP).value
    people = list(await session.scalars(select(User).where(
        User.active, User.role == chosen_role, User.team_id == team_id).order_by(User.id)))
    if not people:
        return None
    if rule == "round_robin":
        team = await session.get(Team, team_id, with_for_update=True)
        assert team is not None
        after = [p for p in people if team.last_assigned_user_id is not None
                 and p.id > team.last_assigned_user_id]
        person = after[0] if after else people[0]
        team.last_assigned_user_id = person.id
        await session.flush()
        return person
    loads = await _loads(session=session, user_ids=[p.id for p in people])
    return min(people, key=lambda p: (loads.get(p.id, 0), p.id))


async def record_progress(*, session: AsyncSession, enrolment_id: int, step: str | None,
                          visit: int, status: str, note: str) -> None:
    """The step an enrolment entered (once per step and visit) with what it decided, if
    anything (``note``), or how it ended."""
    enrolment = await session.get(Enrolment, enrolment_id, with_for_update=True)
    if enrolment is None:
        raise NotFound("enrolment", enrolment_id)
    if status == "running" and step is not None:
        row = await session.scalar(select(EnrolmentStep).where(
            EnrolmentStep.enrolment_id == enrolment_id, EnrolmentStep.step == step,
            EnrolmentStep.visit == visit))
        if row is None:
            row = EnrolmentStep(enrolment_id=enrolment_id, step=step, visit=visit,
                                entered_at=utcnow())
            session.add(row)
        if note:
            row.note = note
    if enrolment.status != "running":
        return  # ended already: a retry of its end changes nothing
    enrolment.step = step
    enrolment.status = status
    if status != "running":
        enrolment.outcome = note or None
        enrolment.ended_at = utcnow()
    await session.flush()


async def open_tasks_of(*, session: AsyncSession, workflow_id: str) -> list[Task]:
    return list(await session.scalars(select(Task).where(
        Task.workflow_id == workflow_id).order_by(Task.id)))
