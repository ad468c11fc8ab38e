"""Projects: started from won sales (by the quote's process, or here for a sale recorded by
hand), followed by their sale-to-project process; milestones completed, projects cancelled,
timesheets and expenses recorded against them.

Who (``api.access``): a project's manager (a sales manager, or an admin) completes any
milestone, cancels the project and records anyone's hours; a milestone's owner completes it;
the people on the project record their own hours and expenses. Sales read their team's
projects, accounting all of them, everyone the projects they are on.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from pydantic import AfterValidator, Field

from api import decisions
from api.access import GrantDep
from api.deps import CurrentUser, PoliciesDep, SessionDep, StateDep, TemporalDep
from api.idempotency import Once, OnceDep, Replay
from api.inputs import Filter, Id, In, Offset, Paragraphs, SingleLine
from api.lookups import MilestoneDep, ProjectDep, SaleDep
from api.problems import invalid
from api.project_views import ExpenseOut, ProjectDetail, ProjectOut, TimesheetOut, detail, summary
from crm import launcher
from crm.errors import Conflict, CrmError, Forbidden, MissingInformation
from crm.models import Project, User
from crm.projects import start_project
from crm.repo import files, projects
from crm.repo.projects import ENDED, Listing
from workflows.project_types import Cancellation, MilestoneCompletion
from workflows.registry import SALE_TO_PROJECT
from workflows.roles import Role
from workflows.sale_to_project import SaleToProject

router = APIRouter(tags=["projects"])
Money = Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=2)]


def _not_future(day: date) -> date:
    if day > datetime.now(UTC).date():
        raise ValueError("must not be in the future")
    return day


PastDay = Annotated[date, AfterValidator(_not_future)]


class TimesheetIn(In):
    user_id: Id = Field(description="Whose hours: your own, or (the manager) anyone's on it")
    day: PastDay = Field(alias="date")
    hours: Decimal = Field(gt=0, le=24, max_digits=4, decimal_places=2)
    description: Annotated[Paragraphs, Field(max_length=2000)] | None = None


class ExpenseIn(In):
    day: PastDay = Field(alias="date")
    amount: Money
    description: Annotated[SingleLine, Field(max_length=500)]


class CancelIn(In):
    reason: Annotated[Paragraphs, Field(min_length=1, max_length=2000)]


@router.post("/sales/{sale_id}/project", status_code=status.HTTP_201_CREATED,
             response_model=ProjectDetail, responses={200: {"description": "It had one"}})
async def start_project_of_sale(
    sale: SaleDep, session: SessionDep, client: TemporalDep, state: StateDep,
    policies: PoliciesDep, once: OnceDep, response: Response,
) -> Any:
    """Set up the sale's project from its template and start its process (201); a sale that
    has one gets it back (200). The rep of the sale, its team's managers and admins."""
    if (kept := await once.answered(session)) is not None:
        if kept.workflow_id:
            await launcher.resume(session, client, state.settings, kept.workflow_id)
        return Replay(kept).response()
    await once.claim(session)
    answer: dict[str, ProjectDetail] = {}

    async def keep(project: Project, made: bool) -> None:
        answer["project"] = await detail(session, project.id)
        await once.keep(session, status.HTTP_201_CREATED if made else status.HTTP_200_OK,
                        answer["project"], workflow_id=SALE_TO_PROJECT.workflow_id(sale.id))

    _, made = await start_project(session, client, state.settings, policies, sale.id,
                                  before_commit=keep)
    response.status_code = status.HTTP_201_CREATED if made else status.HTTP_200_OK
    return answer["project"]


@router.get("/projects", response_model=list[ProjectOut])
async def list_projects(
    session: SessionDep,
    grant: GrantDep,
    scope: Annotated[Listing, Query(description="mine (I manage it or work on it), team (my "
                                                "team's sales), all (all I may read)")] = "all",
    status: Annotated[Filter | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[Offset, Query()] = 0,
) -> Any:
    rows = await projects.list_projects(session=session, user=grant.user, scope=scope,
                                        within=grant.where(Project), status=status,
                                        limit=limit, offset=offset)
    return [await summary(session, row) for row in rows]


@router.get("/projects/{project_id}", response_model=ProjectDetail)
async def get_project(project: ProjectDep, session: SessionDep) -> Any:
    """Participants, milestones with due dates and state, tasks, invoices, timesheets,
    expenses, totals (hours, costs, invoiced, paid, margin), history and emails."""
    return await detail(session, project.id)


@router.post("/projects/{project_id}/milestones/{milestone_id}/complete",
             response_model=ProjectDetail)
async def complete_milestone(
    project: ProjectDep, milestone: MilestoneDep, session: SessionDep, user: CurrentUser,
    client: TemporalDep, state: StateDep, once: OnceDep, policies: PoliciesDep,
) -> Any:
    """The project manager or the milestone's owner marks it done; invoicing follows. When
    the policy asks for a sign-off (``[project] milestone_sign_off``), a file of that kind
    must be on the milestone first."""
    def who() -> None:
        if not (_manages(project, user) or milestone.owner_id == user.id):
            raise Forbidden(f"only the project manager or the milestone's owner completes "
                            f"milestone {milestone.name}")

    needed = policies.project.milestone_sign_off
    if needed and not await files.carries(session=session, object_type="milestone",
                                          object_id=milestone.id, kind=needed):
        raise MissingInformation(f"milestone {milestone.name} is completed once its "
                                 f"{needed.replace('_', ' ')} is attached "
                                 f"(POST …/milestones/{milestone.id}/files, kind {needed})",
                                 [needed])

    return await _decide(session, project, client, state, once, who,
                         f"have milestone {milestone.name} completed",
                         SaleToProject.complete_milestone,
                         MilestoneCompletion(milestone.id, user.id, user.role))


@router.post("/projects/{project_id}/cancel", response_model=ProjectDetail)
async def cancel(
    project: ProjectDep, body: CancelIn, session: SessionDep, user: CurrentUser,
    client: TemporalDep, state: StateDep, once: OnceDep,
) -> Any:
    """The project manager stops the project, with a reason: reminders and invoicing stop."""
    def who() -> None:
        if not _manages(project, user):
            raise Forbidden(f"only the project manager or an admin cancels project {project.id}")

    return await _decide(session, project, client, state, once, who, "be cancelled",
                         SaleToProject.cancel, Cancellation(body.reason, user.id, user.role))


@router.post("/projects/{project_id}/timesheets", status_code=status.HTTP_201_CREATED,
             response_model=TimesheetOut)
async def record_timesheet(
    project: ProjectDep, body: TimesheetIn, session: SessionDep, user: CurrentUser,
    once: OnceDep,
) -> Any:
    """Hours worked on the project: yours (you are on it: ``api.access``), or (the project
    manager) anyone's on it."""
    if (kept := await once.answered(session)) is not None:
        return Replay(kept).response()
    if not (_manages(project, user) or body.user_id == user.id):
        raise Forbidden(f"the people on project {project.id} record their own hours; its "
                        f"manager records anyone's")
    _still_open(project, "timesheets")
    if body.user_id not in await _people_on(session, project):
        raise invalid("user_id", f"user {body.user_id} is not on project {project.id}")
    await once.claim(session)
    row = await projects.record_timesheet(
        session=session, project=project, user_id=body.user_id, worked_on=body.day,
        hours=body.hours, note=body.description, recorded_by_id=user.id)
    answer = TimesheetOut.model_validate(row)
    await once.keep(session, status.HTTP_201_CREATED, answer)
    return answer


@router.post("/projects/{project_id}/expenses", status_code=status.HTTP_201_CREATED,
             response_model=ExpenseOut)
async def record_expense(
    project: ProjectDep, body: ExpenseIn, session: SessionDep, user: CurrentUser,
    once: OnceDep,
) -> Any:
    """An expense you incurred for the project (you are on it: ``api.access``)."""
    if (kept := await once.answered(session)) is not None:
        return Replay(kept).response()
    _still_open(project, "expenses")
    await once.claim(session)
    row = await projects.record_expense(session=session, project=project, user_id=user.id,
                                        incurred_on=body.day, amount=body.amount,
                                        description=body.description)
    answer = ExpenseOut.model_validate(row)
    await once.keep(session, status.HTTP_201_CREATED, answer)
    return answer


def _manages(project: Project, user: User) -> bool:
    return project.manager_id == user.id or user.role == Role.ADMIN


async def _people_on(session: SessionDep, project: Project) -> set[int]:
    return {member.user_id for member, _ in await projects.members_of(
        session=session, project_id=project.id)}


def _still_open(project: Project, what: str) -> None:
    if project.status in ENDED:
        raise Conflict(f"project {project.id} is {project.status}: it takes no more {what}")


async def _decide(
    session: SessionDep, project: Project, client: TemporalDep, state: StateDep, once: Once,
    who: Callable[[], None], doing: str, update: Any, arg: Any,
) -> Any:
    """Hand a decision to the project's process; answer with the project it leads to. A
    process that has ended refuses after saying who may act (403 before 409)."""
    project_id = project.id

    async def ended() -> CrmError:
        who()
        current = await session.get(Project, project_id, populate_existing=True)
        return Conflict(f"project {project_id} is {current.status if current else 'gone'}, "
                        f"so it cannot {doing}")

    async def answer(_: Any) -> Any:
        return await detail(session, project_id)

    return await decisions.decide(session, client, state.settings, once,
                                  SALE_TO_PROJECT.workflow_id(project.sale_id), update, arg,
                                  ended=ended, answer=answer)

