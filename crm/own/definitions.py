"""A definition's life: created as a draft, edited, published as an immutable version
(the active one for new enrolments), archived (no new enrolments; running ones go on)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import Conflict, Forbidden, NotFound
from crm.models import DefinitionVersion, User, WorkflowDefinition
from crm.models.base import utcnow
from crm.own import reading
from crm.policies import Policies
from workflows.own.definition import Definition, Roles, read


async def create(*, session: AsyncSession, data: dict[str, Any], policies: Policies,
                 by: User) -> WorkflowDefinition:
    """A new definition, its draft checked (Invalid names every problem)."""
    checked = reading.definition(data, policies)
    row = WorkflowDefinition(name=checked.name, object_type=checked.object, status="draft",
                             draft=data, draft_updated_at=utcnow(), created_by_id=by.id)
    may_edit(row, checked, by)  # its author can edit what they create
    session.add(row)
    await session.flush()
    return row


async def get(*, session: AsyncSession, definition_id: int,
              for_update: bool = False) -> WorkflowDefinition:
    row = await session.get(WorkflowDefinition, definition_id, with_for_update=for_update)
    if row is None:
        raise NotFound("workflow definition", definition_id)
    return row


def may_edit(row: WorkflowDefinition, version: Definition | None, user: User) -> None:
    """Who may edit: the roles its active version (else its draft) names."""
    roles = (version.roles.edit if version else None) or Roles().edit
    if user.role not in roles:
        raise Forbidden(f"workflow definition {row.id or '(new)'} may be edited by "
                        f"{', '.join(roles)}; you are {user.role}")


async def save_draft(*, session: AsyncSession, row: WorkflowDefinition, data: dict[str, Any],
                     policies: Policies) -> WorkflowDefinition:
    """Replace the draft (checked); the object followed never changes."""
    if row.status == "archived":
        raise Conflict(f"workflow definition {row.id} is archived: it is edited no more")
    checked = reading.definition(data, policies)
    if checked.object != row.object_type:
        raise Conflict(f"workflow definition {row.id} follows a {row.object_type}; a draft "
                       f"cannot make it follow a {checked.object} (create a new definition)")
    row.draft, row.name, row.draft_updated_at = data, checked.name, utcnow()
    await session.flush()
    return row


async def publish(*, session: AsyncSession, row: WorkflowDefinition, policies: Policies,
                  by: User) -> DefinitionVersion:
    """The draft becomes the next version, active for new enrolments from now on; those
    enrolled earlier keep theirs to the end. The draft is checked again (the policy may
    have changed since it was saved)."""
    if row.status == "archived":
        raise Conflict(f"workflow definition {row.id} is archived: it publishes no more")
    if row.draft is None:
        raise Conflict(f"workflow definition {row.id} has no draft to publish: version "
                       f"{row.active_version} is its latest")
    reading.definition(row.draft, policies)
    latest = await session.scalar(select(func.max(DefinitionVersion.version)).where(
        DefinitionVersion.definition_id == row.id)) or 0
    version = DefinitionVersion(definition_id=row.id, version=latest + 1, body=row.draft,
                                published_at=utcnow(), published_by_id=by.id)
    session.add(version)
    row.active_version, row.status, row.draft = version.version, "active", None
    await session.flush()
    return version


async def archive(*, session: AsyncSession, row: WorkflowDefinition) -> WorkflowDefinition:
    if row.status == "archived":
        raise Conflict(f"workflow definition {row.id} is archived already")
    row.status = "archived"
    await session.flush()
    return row


async def versions(*, session: AsyncSession, definition_id: int) -> list[DefinitionVersion]:
    return list(await session.scalars(select(DefinitionVersion).where(
        DefinitionVersion.definition_id == definition_id).order_by(DefinitionVersion.version)))


async def version(*, session: AsyncSession, definition_id: int,
                  number: int) -> DefinitionVersion:
    found = await session.scalar(select(DefinitionVersion).where(
        DefinitionVersion.definition_id == definition_id,
        DefinitionVersion.version == number))
    if found is None:
        raise NotFound(f"version of workflow definition {definition_id}", number)
    return found


async def active(*, session: AsyncSession, row: WorkflowDefinition) -> Definition | None:
    """The active version's definition, None when never published."""
    if row.active_version is None:
        return None
    found = await version(session=session, definition_id=row.id, number=row.active_version)
    return read(found.body)


async def governing(*, session: AsyncSession, row: WorkflowDefinition) -> Definition | None:
    """The definition whose roles say who may edit: the active version, else the draft."""
    found = await active(session=session, row=row)
    if found is None and row.draft is not None:
        found = read(row.draft)
    return found


async def listing(*, session: AsyncSession, object_type: str | None = None,
                  status: str | None = None) -> list[WorkflowDefinition]:
    query = select(WorkflowDefinition).order_by(WorkflowDefinition.id)
    if object_type:
        query = query.where(WorkflowDefinition.object_type == object_type)
    if status:
        query = query.where(WorkflowDefinition.status == status)
    return list(await session.scalars(query))
