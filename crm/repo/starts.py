"""Process starts: recorded with their object, marked once Temporal has them."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.models import ProcessStart
from crm.models.base import utcnow


async def record(
    *, session: AsyncSession, process: str, workflow_id: str, object_type: str,
    object_id: int, input_json: str,
) -> ProcessStart:
    """Note that this process must start; committed with the object it follows."""
    start = ProcessStart(process=process, workflow_id=workflow_id, object_type=object_type,
                         object_id=object_id, input=input_json)
    session.add(start)
    await session.flush()
    return start


async def mark_started(*, session: AsyncSession, start_id: int, run_id: str | None) -> None:
    start = await session.get(ProcessStart, start_id)
    if start is not None and start.started_at is None:
        start.started_at, start.run_id, start.last_error = utcnow(), run_id, None


async def note_failure(*, session: AsyncSession, start_id: int, error: str) -> None:
    start = await session.get(ProcessStart, start_id)
    if start is not None:
        start.attempts += 1
        start.last_error = error[:2000]


async def pending(
    *, session: AsyncSession, workflow_id: str | None = None,
    older_than: timedelta = timedelta(0), limit: int = 1000,
) -> list[ProcessStart]:
    """Starts not yet confirmed, oldest first (of one workflow id, when given)."""
    cutoff: datetime = utcnow() - older_than
    query = select(ProcessStart).where(ProcessStart.started_at.is_(None),
                                       ProcessStart.created_at <= cutoff)
    if workflow_id is not None:
        query = query.where(ProcessStart.workflow_id == workflow_id)
    return list(await session.scalars(query.order_by(ProcessStart.id).limit(limit)))


async def latest(*, session: AsyncSession, workflow_id: str) -> ProcessStart | None:
    """The last start recorded for this workflow id, made or not."""
    return await session.scalar(select(ProcessStart).where(
        ProcessStart.workflow_id == workflow_id).order_by(ProcessStart.id.desc()).limit(1))
