"""Tasks, shared by every process: mine by default, and completing them."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import Field

from api import processes
from api.deps import SessionDep, StaffUser, StateDep, get_temporal
from api.idempotency import OnceDep
from api.inputs import Id, In, Offset, Paragraphs
from api.lookups import ObjectId
from api.schemas import TaskOut
from crm.errors import Forbidden
from crm.models import Task
from crm.repo import tasks
from workflows.registry import SUPPORT_TICKET
from workflows.roles import Role
from workflows.support_types import TASK_COMPLETED, TaskCompleted

router = APIRouter(tags=["tasks"])
SUPERVISORS = (Role.SALES_MANAGER, Role.SUPPORT_LEAD, Role.ADMIN)


class Completion(In):
    outcome: Annotated[Paragraphs, Field(min_length=1, max_length=2000,
                                         description="What was done")]


@router.get("/tasks", response_model=list[TaskOut])
async def list_tasks(
    session: SessionDep,
    user: StaffUser,
    assignee: Annotated[
        str, Query(description="'me' (default), 'all', or a user id", pattern=r"^(me|all|\d+)$")
    ] = "me",
    status: Literal["open", "done", "cancelled"] | None = None,
    kind: str | None = None,
    related_type: str | None = None,
    related_id: Annotated[Id | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[Offset, Query()] = 0,
) -> list[TaskOut]:
    assignee_id = user.id if assignee == "me" else None if assignee == "all" else int(assignee)
    if assignee_id != user.id and user.role not in SUPERVISORS:
        raise Forbidden("only managers, support leads and admins see other people's tasks")
    rows = await tasks.list_tasks(
        session=session, assignee_id=assignee_id, status=status, kind=kind,
        related_type=related_type, related_id=related_id, limit=limit, offset=offset,
    )
    return [TaskOut.model_validate(r) for r in rows]


@router.post("/tasks/{task_id}/complete", response_model=TaskOut)
async def complete_task(
    task_id: ObjectId, completion: Completion, session: SessionDep, user: StaffUser,
    once: OnceDep, state: StateDep,
) -> TaskOut:
    """Complete a task; a ticket's back-office task moves its ticket on (both, or neither:
    503 when the ticket's process cannot be told, so a retry completes it once)."""
    await once.claim(session)
    task = await tasks.get_task(session=session, task_id=task_id)
    if task.assignee_id != user.id and user.role not in SUPERVISORS:
        raise Forbidden("only the task's assignee (or a manager) completes it")
    await tasks.complete_task(session=session, task=task, completed_by_id=user.id,
                              outcome=completion.outcome)
    await _tell_its_ticket(task, completion.outcome, user.id, state)
    answer = TaskOut.model_validate(task)
    await once.keep(session, 200, answer)
    return answer


async def _tell_its_ticket(task: Task, outcome: str, by_user_id: int, state: StateDep) -> None:
    """A task a ticket's process created: that process hears it is done."""
    if not (task.workflow_id or "").startswith(f"{SUPPORT_TICKET.object_type}-"):
        return
    handle = (await get_temporal(state)).get_workflow_handle(task.workflow_id or "")
    await processes.signal(handle, state.settings, TASK_COMPLETED,
                           TaskCompleted(task.id, outcome, by_user_id))
