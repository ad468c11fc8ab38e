"""Tasks, shared by every process: mine by default, and completing them. Managers and
support leads see and complete their team's too, admins everyone's (``api.access``)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import AfterValidator, Field

from api import processes
from api.access import OWN, GrantDep
from api.deps import CurrentUser, SessionDep, StateDep, get_temporal
from api.idempotency import OnceDep
from api.inputs import MAX_ID, Filter, Id, In, Offset, Paragraphs
from api.lookups import TaskDep
from api.schemas import TaskOut
from crm.models import Task
from crm.repo import tasks
from workflows.registry import SUPPORT_TICKET
from workflows.support_types import TASK_COMPLETED, TaskCompleted

router = APIRouter(tags=["tasks"])


def _assignee(value: str) -> str:
    if value not in ("me", "all") and not (
            value.isascii() and value.isdigit() and 1 <= int(value) <= MAX_ID):
        raise ValueError("must be me, all, or a user id")
    return value


class Completion(In):
    outcome: Annotated[Paragraphs, Field(min_length=1, max_length=2000,
                                         description="What was done")]


@router.get("/tasks", response_model=list[TaskOut])
async def list_tasks(
    session: SessionDep,
    grant: GrantDep,
    assignee: Annotated[str, Query(description="'me' (default), 'all' (all I may see), or "
                                               "a user id"), AfterValidator(_assignee)] = "me",
    status: Literal["open", "done", "cancelled"] | None = None,
    kind: Annotated[Filter | None, Query(max_length=64)] = None,
    related_type: Annotated[Filter | None, Query(max_length=32)] = None,
    related_id: Annotated[Id | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[Offset, Query()] = 0,
) -> list[TaskOut]:
    """Open tasks first by due date: one's own, or (``assignee``) those of the people one
    may see (a manager's or support lead's team, everyone for an admin)."""
    user = grant.user
    assignee_id = user.id if assignee == "me" else None if assignee == "all" else int(assignee)
    if assignee_id != user.id and grant.scope == OWN:
        raise grant.refusal("everyone's task list" if assignee_id is None else
                            f"user {assignee_id}'s task list")
    rows = await tasks.list_tasks(
        session=session, assignee_id=assignee_id, status=status, kind=kind,
        related_type=related_type, related_id=related_id, within=grant.where(Task),
        limit=limit, offset=offset,
    )
    return [TaskOut.model_validate(r) for r in rows]


@router.post("/tasks/{task_id}/complete", response_model=TaskOut)
async def complete_task(
    task: TaskDep, completion: Completion, session: SessionDep, user: CurrentUser,
    once: OnceDep, state: StateDep,
) -> TaskOut:
    """Complete a task; a ticket's back-office task moves its ticket on (both, or neither:
    503 when the ticket's process cannot be told, so a retry completes it once)."""
    await once.claim(session)
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
