"""An enrolment in a workflow of your own: where it stands, its approvals, its cancellation.
Enrolling is a definition's route (``POST /workflow-definitions/{id}/enrol``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import Field
from sqlalchemy import select

from api import decisions
from api.deps import CurrentUser, SessionDep, StateDep, TemporalDep
from api.idempotency import OnceDep
from api.inputs import Id, In, Paragraphs
from crm.errors import Conflict, CrmError
from crm.models import Enrolment, EnrolmentStep, Task
from crm.own import enrolments
from workflows.own.interpreter import ApprovalDecision, Cancellation, OwnWorkflow

router = APIRouter(tags=["your own workflows"])


class CancelIn(In):
    reason: Annotated[Paragraphs, Field(min_length=1, max_length=2000)]


class DecisionIn(In):
    approve: bool
    comment: Annotated[Paragraphs, Field(max_length=2000)] | None = None


@router.get("/enrolments/{enrolment_id}")
async def get_enrolment(enrolment_id: Id, session: SessionDep) -> Any:
    """The enrolment with the steps it entered (and what each decided) and the tasks it
    made."""
    found = await enrolments.get(session=session, enrolment_id=enrolment_id)
    steps = await session.scalars(select(EnrolmentStep).where(
        EnrolmentStep.enrolment_id == found.id).order_by(EnrolmentStep.id))
    tasks = await session.scalars(select(Task).where(
        Task.workflow_id == found.workflow_id).order_by(Task.id))
    return {**enrolments.summary(found),
            "steps": [{"step": s.step, "visit": s.visit, "entered_at": s.entered_at,
                       "note": s.note} for s in steps],
            "tasks": [{"id": t.id, "title": t.title, "assignee_id": t.assignee_id,
                       "status": t.status, "due_at": t.due_at} for t in tasks]}


async def _drive(session: SessionDep, client: TemporalDep, state: StateDep, once: OnceDep,
                 enrolment_id: int, update: Any, arg: Any, doing: str) -> Any:
    found = await enrolments.get(session=session, enrolment_id=enrolment_id)

    async def ended() -> CrmError:
        current = await session.get(Enrolment, enrolment_id, populate_existing=True)
        return Conflict(f"enrolment {enrolment_id} is "
                        f"{current.status if current else 'gone'}: {doing}")

    async def answer(_: Any) -> Any:
        return await get_enrolment(enrolment_id, session)

    return await decisions.decide(session, client, state.settings, once, found.workflow_id,
                                  update, arg, ended=ended, answer=answer)


@router.post("/enrolments/{enrolment_id}/cancel")
async def cancel_enrolment(enrolment_id: Id, body: CancelIn, session: SessionDep,
                           user: CurrentUser, client: TemporalDep, state: StateDep,
                           once: OnceDep) -> Any:
    """Stop the enrolment where it is (409 once it has ended)."""
    return await _drive(session, client, state, once, enrolment_id, OwnWorkflow.cancel,
                        Cancellation(user.id, body.reason),
                        "only a running enrolment can be cancelled")


@router.post("/enrolments/{enrolment_id}/decision")
async def decide(enrolment_id: Id, body: DecisionIn, session: SessionDep,
                 user: CurrentUser, client: TemporalDep, state: StateDep,
                 once: OnceDep) -> Any:
    """Approve or reject the approval step the enrolment waits at: someone of the step's
    role (of the object's team when it has one) or an admin, never the object's author; a
    rejection says why. 409 when it waits for no approval (decided, by rule or by someone)."""
    decision = ApprovalDecision(user.id, user.role, user.team_id, body.approve,
                                body.comment or "", by_name=user.name)
    return await _drive(session, client, state, once, enrolment_id, OwnWorkflow.decide,
                        decision, "no approval is pending")
