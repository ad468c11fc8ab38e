"""Insights: the funnel, cycle times, approvals, support's targets, cash, the forecast and
the objectives' attainment, each as JSON (``Accept: text/csv`` for the same rows as CSV).

Each view is filtered by period (``from`` included, ``to`` not), ``team`` and ``owner``, and
counted on the company's wall clock (``time_zone``, default the ``office`` calendar's; a
``from`` or ``to`` without its zone is on that clock too). A
rep reads their own cases, a manager or support lead their team's: the filter is set to
theirs whatever they ask, and asking for someone else's is refused. The funnel and cycle
times and objectives are about one process (``process``) or a workflow of your own
(``definition``, optionally one ``version``); the others each about one process.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, tzinfo
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select

from api.access import GrantDep
from api.deps import PoliciesDep, SessionDep
from api.inputs import Id
from api.problems import invalid
from crm.errors import Forbidden
from crm.insights.charts import Refused, Slice, zone
from crm.insights.objectives import Objective
from crm.insights.views import SUBJECT, VIEWS, Asked
from crm.models import WorkflowDefinition
from crm.repo.scopes import Scope
from workflows.roles import Role

router = APIRouter(tags=["insights"])
CSV = "text/csv"


def _aware(moment: datetime | None, wall: tzinfo) -> datetime | None:
    """A moment given without its zone is on the company's wall clock."""
    return moment.replace(tzinfo=wall) if moment and moment.tzinfo is None else moment


async def _answer(view: str, request: Request, session: SessionDep, grant: GrantDep,
                  policies: PoliciesDep, process: str | None, definition: int | None,
                  version: int | None, since: datetime | None, until: datetime | None,
                  team: int | None, owner: int | None, time_zone: str | None,
                  every: str | None) -> Any:
    process = process or SUBJECT.get(view)
    try:
        asked = Asked(process, definition, version, _objectives(policies, process),
                      _every(view, every))
        wall = zone(time_zone or _office(policies))
        since, until = _aware(since, wall), _aware(until, wall)
        if since and until and until <= since:
            raise Refused("to", "must be later than from")
        where = Slice(since, until, team, owner, wall)
        if definition is not None:
            await _definition(session, definition, team, owner)
        elif grant.user.role != Role.ADMIN and Role(grant.user.role) not in asked.readers():
            raise Forbidden(f"role {grant.user.role} may not read {asked.process}'s insights")
        else:
            where = _within_reach(grant, where)
        chart = await VIEWS[view](session, asked, where)
    except Refused as refused:
        raise invalid(refused.field, str(refused)) from refused
    if CSV in request.headers.get("accept", ""):
        return Response(chart.as_csv(), media_type=f"{CSV}; charset=utf-8")
    return chart.as_json()


def _objectives(policies: PoliciesDep, process: str | None) -> tuple[Objective, ...]:
    """The process's objectives in the policy in force (none for an unknown process: the
    view refuses it)."""
    return tuple(getattr(policies.objectives, process or "", None) or ())


def _every(view: str, every: str | None) -> str:
    if every is not None and view != "objectives":
        raise Refused("every", "only the objectives view is counted period by period")
    return every or "month"


def _office(policies: PoliciesDep) -> str:
    return policies.own_workflows.calendars["office"].time_zone


async def _definition(session: SessionDep, definition: int, team: int | None,
                      owner: int | None) -> None:
    if await session.scalar(select(WorkflowDefinition.id).where(
            WorkflowDefinition.id == definition)) is None:
        raise Refused("definition", f"workflow definition {definition} does not exist")
    if team is not None or owner is not None:
        raise Refused("team" if team is not None else "owner",
                      "a definition's views are counted over all its enrolments")


def _within_reach(grant: GrantDep, where: Slice) -> Slice:
    """The slice narrowed to the caller's own cases or their team's."""
    user = grant.user
    if grant.scope == Scope.OWN:
        if where.owner_id not in (None, user.id):
            raise grant.refusal(f"user {where.owner_id}'s cases")
        return replace(where, owner_id=user.id)
    if grant.scope == Scope.TEAM:
        if user.team_id is None or where.team_id not in (None, user.team_id):
            raise grant.refusal(f"team {where.team_id}'s cases")
        return replace(where, team_id=user.team_id)
    return where


def _route(view: str) -> Any:
    async def answer(
        request: Request, session: SessionDep, grant: GrantDep, policies: PoliciesDep,
        process: Annotated[str | None, Query(max_length=64)] = None,
        definition: Id | None = None,
        version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
        since: Annotated[datetime | None, Query(alias="from")] = None,
        to: datetime | None = None,
        team: Id | None = None,
        owner: Id | None = None,
        time_zone: Annotated[str | None, Query(max_length=64)] = None,
        every: Annotated[Literal["month", "week", "day"] | None, Query(description=(
            "objectives only: counted by month (the default), week or day"))] = None,
    ) -> Any:
        return await _answer(view, request, session, grant, policies, process, definition,
                             version, since, to, team, owner, time_zone, every)
    answer.__name__ = f"insights_{view.replace('-', '_')}"
    return answer


for _view in VIEWS:
    router.add_api_route(
        f"/insights/{_view}", _route(_view), methods=["GET"],
        summary=f"The {_view.replace('-', ' ')} view (JSON, or CSV with Accept: text/csv)",
        responses={200: {"content": {CSV: {}}}})
