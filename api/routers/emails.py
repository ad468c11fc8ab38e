"""The email outbox, for admins: what the processes sent, to whom, and when."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.deps import SessionDep, requires
from api.schemas import EmailOut
from crm.models import User
from crm.repo import outbox
from workflows.roles import Role

router = APIRouter(tags=["emails"])


@router.get("/emails", response_model=list[EmailOut])
async def list_emails(
    session: SessionDep,
    _: Annotated[User, Depends(requires(Role.ADMIN))],
    recipient: str | None = None,
    related_type: str | None = None,
    related_id: int | None = None,
    purpose: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[EmailOut]:
    rows = await outbox.list_emails(
        session=session, recipient=recipient, related_type=related_type,
        related_id=related_id, purpose=purpose, limit=limit, offset=offset,
    )
    return [EmailOut.model_validate(r) for r in rows]
