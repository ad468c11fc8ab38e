"""The email outbox, for admins: what the processes sent, to whom, and when."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api.deps import SessionDep
from api.inputs import Filter, Id, Offset
from api.schemas import EmailOut
from crm.repo import outbox

router = APIRouter(tags=["emails"])


@router.get("/emails", response_model=list[EmailOut])
async def list_emails(
    session: SessionDep,
    recipient: Filter | None = None,
    related_type: Filter | None = None,
    related_id: Annotated[Id | None, Query()] = None,
    purpose: Filter | None = None,
    status: Annotated[Literal["pending", "sending", "sent", "failed"] | None, Query(
        description="failed: no retry can deliver it (refused for good, or it cannot be "
                    "built); last_error says why")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[Offset, Query()] = 0,
) -> list[EmailOut]:
    rows = await outbox.list_emails(
        session=session, recipient=recipient, related_type=related_type,
        related_id=related_id, purpose=purpose, status=status, limit=limit, offset=offset,
    )
    return [EmailOut.model_validate(r) for r in rows]
