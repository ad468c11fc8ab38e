"""The objects a path names, as dependencies: 404 when missing, 403 when outside the
caller's scope under the route's rule (``api.access``), locked where a change must not race
another one."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import Depends, Path
from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection

from api.access import GrantDep
from api.deps import SessionDep
from api.inputs import MAX_ID
from crm.errors import NotFound
from crm.models import (
    Invoice,
    Lead,
    Milestone,
    Project,
    ProjectTemplate,
    Quote,
    Sale,
    Task,
    Ticket,
)
from crm.repo import projects
from crm.repo.query import exists_with_id

ObjectId = Annotated[int, Path(ge=1, le=MAX_ID, description="The object's id")]
T = TypeVar("T", Lead, Quote, Sale, Project, Ticket, Task, Invoice, ProjectTemplate)


async def reach(session: SessionDep, grant: GrantDep, kind: type[T], object_id: int,
                named: str, *, locked: bool = False) -> T:
    """The object, if it exists (404) and the grant reaches it (403), found with the grant's
    condition in one query. ``locked``: until the request's transaction ends, so that two
    changes of it take turns."""
    query = select(kind).where(kind.id == object_id, grant.where(kind))
    if locked:
        query = query.with_for_update().execution_options(populate_existing=True)
    row = await session.scalar(query)
    if row is not None:
        return row
    if await session.get(kind, object_id) is None:
        raise NotFound(named, object_id)
    raise grant.refusal(f"{named} {object_id}")


async def reached(connection: AsyncConnection, grant: GrantDep, kind: type, object_id: int,
                  named: str, row: Row[Any] | None) -> Row[Any]:
    """``reach`` for a read by SQLAlchemy Core: the row found with the grant's condition,
    else 404 when the object does not exist, 403 when the grant does not reach it."""
    if row is not None:
        return row
    if not await exists_with_id(connection, kind, object_id):
        raise NotFound(named, object_id)
    raise grant.refusal(f"{named} {object_id}")


async def lead_in_path(lead_id: ObjectId, session: SessionDep, grant: GrantDep) -> Lead:
    return await reach(session, grant, Lead, lead_id, "lead")


async def quote_in_path(quote_id: ObjectId, session: SessionDep, grant: GrantDep) -> Quote:
    return await reach(session, grant, Quote, quote_id, "quote")


async def quote_to_change(quote_id: ObjectId, session: SessionDep, grant: GrantDep) -> Quote:
    """The quote, locked: two changes of one quote (a double-clicked submit, an edit racing
    a submit) take turns."""
    return await reach(session, grant, Quote, quote_id, "quote", locked=True)


async def invoice_in_path(invoice_id: ObjectId, session: SessionDep, grant: GrantDep
                          ) -> Invoice:
    return await reach(session, grant, Invoice, invoice_id, "invoice")


async def ticket_in_path(ticket_id: ObjectId, session: SessionDep, grant: GrantDep) -> Ticket:
    return await reach(session, grant, Ticket, ticket_id, "ticket")


async def task_in_path(task_id: ObjectId, session: SessionDep, grant: GrantDep) -> Task:
    return await reach(session, grant, Task, task_id, "task")


async def sale_in_path(sale_id: ObjectId, session: SessionDep, grant: GrantDep) -> Sale:
    return await reach(session, grant, Sale, sale_id, "sale")


async def project_in_path(project_id: ObjectId, session: SessionDep, grant: GrantDep
                          ) -> Project:
    return await reach(session, grant, Project, project_id, "project")


LeadDep = Annotated[Lead, Depends(lead_in_path)]
QuoteDep = Annotated[Quote, Depends(quote_in_path)]
QuoteToChange = Annotated[Quote, Depends(quote_to_change)]
InvoiceDep = Annotated[Invoice, Depends(invoice_in_path)]
TicketDep = Annotated[Ticket, Depends(ticket_in_path)]
TaskDep = Annotated[Task, Depends(task_in_path)]
SaleDep = Annotated[Sale, Depends(sale_in_path)]
ProjectDep = Annotated[Project, Depends(project_in_path)]


async def milestone_in_path(milestone_id: ObjectId, project: ProjectDep,
                            session: SessionDep) -> Milestone:
    """A milestone of the project in the path (another project's is not found)."""
    return await projects.get_milestone(session=session, project=project,
                                        milestone_id=milestone_id)


async def template_in_path(template_id: ObjectId, session: SessionDep, grant: GrantDep
                           ) -> ProjectTemplate:
    return await reach(session, grant, ProjectTemplate, template_id, "project template")


MilestoneDep = Annotated[Milestone, Depends(milestone_in_path)]
TemplateDep = Annotated[ProjectTemplate, Depends(template_in_path)]
