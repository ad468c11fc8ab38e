"""Who the token belongs to, and the policies in force."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import select

from api.deps import CurrentUser, PoliciesDep, SessionDep
from crm.models import Team
from crm.policies import policies_as_json

router = APIRouter(tags=["me"])


class MeOut(BaseModel):
    id: int
    name: str
    email: str
    role: str
    team: str | None


@router.get("/me", response_model=MeOut)
async def me(user: CurrentUser, session: SessionDep) -> MeOut:
    team = (await session.scalar(select(Team.name).where(Team.id == user.team_id))
            if user.team_id is not None else None)
    return MeOut(id=user.id, name=user.name, email=user.email, role=user.role, team=team)


@router.get("/policies", summary="The policies new processes start with")
async def policies(_: CurrentUser, in_force: PoliciesDep) -> dict[str, Any]:
    return policies_as_json(in_force)
