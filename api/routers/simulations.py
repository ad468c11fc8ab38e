"""Simulations: "what would a changed policy have done with these past cases?" Asked here,
run by a worker (a durable ``SimulationRun``), read here while it runs and once it is done.

An admin simulates any cases; a sales manager their team's quotes only (the team is
theirs whatever they ask, and quotes named by id must be their team's); an accountant the
invoices. Each reads the simulations within the same reach.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, status
from pydantic import Field
from sqlalchemy import select
from temporalio.client import RPCTimeoutOrCancelledError
from temporalio.service import RPCError

from api.access import GrantDep
from api.deps import PoliciesDep, SessionDep, StateDep, TemporalDep
from api.inputs import Id, In
from api.problems import invalid
from crm import launcher
from crm.errors import Forbidden, NotFound, ServiceUnavailable
from crm.models import Simulation, Team
from crm.repo.own import MODELS
from crm.repo.scopes import Scope
from simulation.cases import Happening, MadeUp, Selection
from simulation.service import ASKED, Asked, OwnAsked, Refused, prepare
from workflows.roles import Role
from workflows.simulation_run import SimulationRun, SimulationToRun, workflow_id

router = APIRouter(tags=["simulations"])


class PeriodIn(In):
    since: Annotated[datetime | None, Field(alias="from")] = None
    to: datetime | None = None
    team: Id | None = None


class DefinitionIn(In):
    id: Id
    version: Annotated[int, Field(ge=1, le=1_000_000)] | None = Field(
        default=None, description="a published version; none: the draft")


class HappeningIn(In):
    after: timedelta = Field(description="from the case's start, e.g. P3D")
    status: Literal["validated", "rejected", "sent", "won", "lost"]


class MadeUpIn(In):
    discount_pct: Annotated[Decimal, Field(ge=0, le=100)]
    total: Annotated[Decimal, Field(gt=0, le=10**9)] = Decimal(1000)
    happenings: Annotated[list[HappeningIn], Field(max_length=20)] = Field(
        default_factory=list)


class SimulationIn(In):
    process: Annotated[str, Field(max_length=64, examples=["quote_approval"])] | None = None
    definition: DefinitionIn | None = Field(default=None, description=(
        "a workflow of your own: its draft (or a version) against its active version"))
    policy: dict[str, Any] = Field(default_factory=dict, description=(
        "the values to change in the policy in force, as in the policy file's table"))
    cases: PeriodIn | Annotated[list[Id], Field(min_length=1, max_length=10_000)] = Field(
        default_factory=PeriodIn, description="a period (from, to, team) or the objects' ids")
    scenario: Annotated[list[MadeUpIn], Field(min_length=1, max_length=200)] | None = Field(
        default=None, description=(
            "made-up quotes instead of past ones, played by the people of cases.team"))


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment and moment.tzinfo is None else moment


async def _selection(body: SimulationIn, grant: GrantDep, session: SessionDep,
                     object_type: str) -> Selection:
    team = grant.user.team_id if grant.scope != Scope.ALL else None
    if body.scenario is not None:
        if isinstance(body.cases, list):
            raise invalid("cases", "a scenario's cases are made up: name only its team")
        chosen = team if team is not None else body.cases.team
        if chosen is None:
            raise invalid("cases.team", "a scenario is played by a team's people: name it")
        if team is not None and body.cases.team not in (None, team):
            raise Forbidden(f"team {body.cases.team} is not yours")
        if await session.get(Team, chosen) is None:
            raise invalid("cases.team", f"no team {chosen}")
        return Selection(team_id=chosen, scenario=[
            MadeUp(q.discount_pct, q.total, [Happening(h.after, h.status)
                                            for h in q.happenings])
            for q in body.scenario])
    if isinstance(body.cases, list):
        if team is not None:
            for object_id in body.cases:
                await grant.check(session, MODELS[object_type], object_id,
                                  f"{object_type} {object_id}")
        return Selection(object_ids=list(body.cases), team_id=team)
    if team is not None and body.cases.team not in (None, team):
        raise Forbidden(f"team {body.cases.team} is not yours: a sales manager simulates "
                        f"their team's cases only")
    if body.cases.team is not None and await session.get(Team, body.cases.team) is None:
        raise invalid("cases.team", f"no team {body.cases.team}")
    return Selection(since=_aware(body.cases.since), until=_aware(body.cases.to),
                     team_id=team if team is not None else body.cases.team)


def view(row: Simulation) -> dict[str, Any]:
    return {"id": row.id, "process": row.process, "status": row.status,
            "progress": {"done": row.cases_done, "total": row.cases_total},
            "request": row.request, "team_id": row.team_id,
            "requested_by_id": row.requested_by_id, "created_at": row.created_at,
            "finished_at": row.finished_at, "error": row.error, "result": row.result}


@router.post("/simulations", status_code=status.HTTP_202_ACCEPTED)
async def ask(body: SimulationIn, session: SessionDep, grant: GrantDep, client: TemporalDep,
              state: StateDep, policies: PoliciesDep) -> Any:
    """Replay past cases under the policy in force and under the proposed one; answers at
    once with the simulation's id (``GET /simulations/{id}`` follows it). Nothing of the
    CRM changes, no email is sent, no live process is started."""
    if (body.process is None) == (body.definition is None):
        raise invalid("process", "name a process (quote_approval…) or a definition")
    asked = Asked(body.process, body.policy, definition=None if body.definition is None else
                  OwnAsked(body.definition.id, body.definition.version))
    try:
        prepared = await prepare(session, asked, policies)
    except Refused as error:
        raise invalid(error.field, error.message) from None
    subject = prepared.subject
    name = subject.process.name
    if grant.user.role != Role.ADMIN and grant.user.role not in subject.simulated_by:
        raise Forbidden(f"{name} is simulated by "
                        f"{', '.join(r.replace('_', ' ') + 's' for r in subject.simulated_by)}"
                        f" and admins; you are {grant.user.role}")
    if body.scenario is not None and subject.made_up is None:
        raise invalid("scenario", f"{name} takes no scenario: only quote_approval does")
    asked.cases = await _selection(body, grant, session, subject.follows or
                                   subject.process.object_type)
    row = Simulation(process=name, request=ASKED.dump_python(asked, mode="json"),
                     team_id=asked.cases.team_id, requested_by_id=grant.user.id)
    session.add(row)
    await session.flush()
    try:
        await client.start_workflow(SimulationRun.run, SimulationToRun(row.id),
                                    id=workflow_id(row.id),
                                    task_queue=state.settings.temporal_task_queue,
                                    rpc_timeout=launcher.deadline(state.settings))
    except (RPCError, RPCTimeoutOrCancelledError) as error:
        raise ServiceUnavailable("the simulation could not be started (Temporal does not "
                                 "answer): nothing was recorded, ask again") from error
    await session.commit()
    return view(row)


async def _reached(session: SessionDep, grant: GrantDep, simulation_id: int) -> Simulation:
    row = await session.get(Simulation, simulation_id)
    if row is None:
        raise NotFound("simulation", simulation_id)
    if grant.scope != Scope.ALL and row.team_id != grant.user.team_id:
        raise grant.refusal(f"simulation {simulation_id}")
    return row


@router.get("/simulations/{simulation_id}")
async def get_simulation(simulation_id: Id, session: SessionDep, grant: GrantDep) -> Any:
    """Its progress (cases done of the total) and, once done, its result: per case the two
    timelines, and the summary with the cases behind each number."""
    return view(await _reached(session, grant, simulation_id))


@router.get("/simulations")
async def list_simulations(session: SessionDep, grant: GrantDep) -> Any:
    """The simulations within reach, newest first, without their results."""
    query = select(Simulation).order_by(Simulation.id.desc()).limit(200)
    if grant.scope != Scope.ALL:
        query = query.where(Simulation.team_id == grant.user.team_id)
    return [{**view(row), "result": None} for row in await session.scalars(query)]
