"""The status history: every status change of every business object, with who and why."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from crm.errors import NotFound
from crm.models import Invoice, Lead, Project, Quote, StatusChange, Task, Ticket
from crm.models.base import utcnow
from crm.repo.query import by_idempotency_key, rows

TRACKED: dict[str, Any] = {
    "lead": Lead,
    "quote": Quote,
    "project": Project,
    "invoice": Invoice,
    "ticket": Ticket,
    "task": Task,
}


async def change_status(
    *,
    session: AsyncSession,
    object_type: str,
    object_id: int,
    to_status: str,
    actor: str,
    reason: str | None = None,
    actor_user_id: int | None = None,
    workflow_id: str | None = None,
    idempotency_key: str | None = None,
    at: datetime | None = None,
    holds_until: datetime | None = None,
) -> StatusChange:
    """Move the object to ``to_status`` and record the change; a repeated key changes nothing."""
    if idempotency_key is not None:
        done = await by_idempotency_key(session, StatusChange, idempotency_key)
        if done is not None:
            return done
    model = TRACKED[object_type]
    row = await session.get(model, object_id, with_for_update=True)
    if row is None:
        raise NotFound(object_type, object_id)
    changed_at = at or utcnow()
    change = StatusChange(
        object_type=object_type,
        object_id=object_id,
        from_status=row.status,
        to_status=to_status,
        actor=actor,
        actor_user_id=actor_user_id,
        reason=reason,
        workflow_id=workflow_id,
        idempotency_key=idempotency_key,
        changed_at=changed_at,
        entered_at=await _status_entered(session, object_type, row, changed_at),
    )
    row.status = to_status
    if isinstance(row, Quote):
        _note_on_quote(row, change, holds_until)
    elif isinstance(row, Lead):
        row.status_reason = reason
    session.add(change)
    await session.flush()
    return change


async def history_of(
    *, session: AsyncSession, object_type: str, object_id: int
) -> list[StatusChange]:
    found = await histories_of(session=session, object_type=object_type, object_ids=[object_id])
    return found[object_id]


async def histories_of(
    *, session: AsyncSession, object_type: str, object_ids: list[int]
) -> dict[int, list[StatusChange]]:
    """The status histories of many objects of one type, in one query (for lists)."""
    found: dict[int, list[StatusChange]] = {object_id: [] for object_id in object_ids}
    if object_ids:
        for change in await session.scalars(
            select(StatusChange)
            .where(StatusChange.object_type == object_type,
                   StatusChange.object_id.in_(object_ids))
            .order_by(StatusChange.id)
        ):
            found[change.object_id].append(change)
    return found


SHOWN = (StatusChange.object_id, StatusChange.from_status, StatusChange.to_status,
         StatusChange.actor, StatusChange.reason, StatusChange.changed_at)
"""A status change's columns as the API shows it, with the object's id."""
_OF = (select(*SHOWN)
       .where(StatusChange.object_type == bindparam("object_type"),
              StatusChange.object_id.in_(bindparam("object_ids", expanding=True)))
       .order_by(StatusChange.id))


async def histories_shown(*, connection: AsyncConnection, object_type: str,
                          object_ids: list[int]) -> dict[int, list[Row[Any]]]:
    """``histories_of`` as rows of ``SHOWN`` (an object without changes is not a key)."""
    found: dict[int, list[Row[Any]]] = defaultdict(list)
    if object_ids:
        for change in await rows(connection, _OF, {"object_type": object_type,
                                                   "object_ids": object_ids}):
            found[change.object_id].append(change)
    return found


async def _status_entered(session: AsyncSession, object_type: str, row: Any,
                          until: datetime) -> datetime:
    """When the object entered the status it has: its latest change of status up to
    ``until``, or its creation. A change to the same status (an invoice's next reminder while
    it stays overdue) does not end the stay. Read under the object's row lock, so a
    concurrent change of the same object cannot slip in between."""
    sc = StatusChange
    entered = await session.scalar(
        select(sc.changed_at)
        .where(sc.object_type == object_type, sc.object_id == row.id,
               sc.from_status != sc.to_status, sc.changed_at <= until)
        .order_by(sc.changed_at.desc(), sc.id.desc())
        .limit(1))
    return entered or row.created_at


def _note_on_quote(quote: Quote, change: StatusChange, holds_until: datetime | None) -> None:
    if holds_until is not None:
        quote.valid_until = holds_until
    if change.to_status in ("validated", "rejected"):
        quote.decided_by_id = change.actor_user_id
        quote.decision_comment = change.reason
