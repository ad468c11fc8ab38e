"""Tasks: the back-office work the processes hand to people."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import Conflict, NotFound
from crm.models import Task
from crm.models.base import utcnow
from crm.repo.history import change_status
from crm.repo.query import by_idempotency_key, where_given


async def create_task(
    *,
    session: AsyncSession,
    kind: str,
    title: str,
    assignee_id: int | None,
    due_at: datetime | None = None,
    description: str | None = None,
    related_type: str | None = None,
    related_id: int | None = None,
    workflow_id: str | None = None,
    idempotency_key: str | None = None,
) -> Task:
    """A new open task; with an idempotency key, the task already made under it."""
    if idempotency_key is not None:
        existing = await by_idempotency_key(session, Task, idempotency_key)
        if existing is not None:
            return existing
    task = Task(
        kind=kind,
        title=title,
        description=description,
        assignee_id=assignee_id,
        due_at=due_at,
        related_type=related_type,
        related_id=related_id,
        workflow_id=workflow_id,
        idempotency_key=idempotency_key,
    )
    session.add(task)
    await session.flush()
    return task


async def get_task(*, session: AsyncSession, task_id: int) -> Task:
    task = await session.get(Task, task_id)
    if task is None:
        raise NotFound("task", task_id)
    return task


async def list_tasks(
    *,
    session: AsyncSession,
    assignee_id: int | None = None,
    status: str | None = None,
    kind: str | None = None,
    related_type: str | None = None,
    related_id: int | None = None,
    within: ColumnElement[bool] = true(),
    limit: int = 100,
    offset: int = 0,
) -> list[Task]:
    """Those with a due date first, soonest first; ``within``: only these (a caller's scope,
    ``crm.repo.scopes``)."""
    query = where_given(select(Task).where(within), {
        Task.assignee_id: assignee_id, Task.status: status, Task.kind: kind,
        Task.related_type: related_type, Task.related_id: related_id,
    })
    query = query.order_by(Task.due_at.is_(None), Task.due_at, Task.id).limit(limit).offset(offset)
    return list(await session.scalars(query))


async def complete_task(
    *, session: AsyncSession, task: Task, completed_by_id: int, outcome: str
) -> Task:
    if task.status != "open":
        raise Conflict(f"task {task.id} is already {task.status}")
    await change_status(
        session=session,
        object_type="task",
        object_id=task.id,
        to_status="done",
        actor=f"user:{completed_by_id}",
        actor_user_id=completed_by_id,
        reason=outcome,
    )
    task.outcome = outcome
    task.completed_at = utcnow()
    task.completed_by_id = completed_by_id
    await session.flush()
    return task


async def open_task_count(*, session: AsyncSession, assignee_id: int) -> int:
    count = await session.scalar(
        select(func.count(Task.id)).where(Task.assignee_id == assignee_id, Task.status == "open")
    )
    return count or 0
