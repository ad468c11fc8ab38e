"""Process views from Temporal visibility: the same queries an engineer types in the Web UI.

A process is shown to those who may read its object (``api.access.READS``): a sales rep sees
the processes of their team's leads and quotes, not those of invoices or tickets. A list asks
Temporal for the kinds of process the caller may read, then keeps those whose objects are
within their scope.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import WorkflowExecution
from temporalio.service import RPCError, RPCStatusCode

from api.access import READS, Grant, GrantDep, granted
from api.deps import SessionDep, TemporalDep, TemporalTimeout
from api.inputs import MAX_ID
from crm.errors import Forbidden, NotFound
from crm.models import Invoice, Lead, Project, Quote, Ticket
from crm.repo.scopes import Scope
from workflows import search_attributes as sa
from workflows.registry import BY_NAME, PROCESSES

router = APIRouter(tags=["processes"])

PROCESS_NAMES = [p.name for p in PROCESSES]
ProcessType = Annotated[str | None, Query(
    pattern="^(" + "|".join(PROCESS_NAMES) + ")$",
    description="CrmProcess: " + ", ".join(PROCESS_NAMES))]


def _keyword(attribute: str) -> Any:
    """A search attribute's value, restricted to characters safe in a visibility query."""
    return Query(pattern=r"^[A-Za-z0-9_.@:-]+$", max_length=100, description=attribute)


WorkflowId = Annotated[str, Path(
    pattern="^(" + "|".join(p.object_type for p in PROCESSES) + ")-[1-9][0-9]{0,9}$",
    description="The process's business key, e.g. quote-42")]
KEYS: dict[str, Any] = {"lead": Lead.id, "quote": Quote.id, "project": Project.sale_id,
                        "invoice": Invoice.id, "ticket": Ticket.id}
"""The key a process's workflow id names its object by (a project's: its sale's id), by the
object type the workflow id starts with."""


class ProcessOut(BaseModel):
    workflow_id: str
    run_id: str
    process: str | None
    business_status: str | None
    customer_id: str | None
    owner: str | None
    amount: float | None
    execution_status: str | None
    started_at: datetime
    closed_at: datetime | None


class ProcessDetail(ProcessOut):
    summary: str | None
    details: str | None
    state: dict[str, Any] | None
    state_error: str | None = None


def visibility_query(
    processes: Sequence[str], status: str | None, customer: str | None, owner: str | None,
) -> str:
    """A Temporal visibility query; values are already restricted to safe characters."""
    clauses = [f'CrmProcess = "{processes[0]}"' if len(processes) == 1 else
               "CrmProcess IN (" + ", ".join(f'"{name}"' for name in processes) + ")"]
    for attribute, value in (("CrmStatus", status), ("CrmCustomerId", customer),
                             ("CrmOwner", owner)):
        if value:
            clauses.append(f'{attribute} = "{value}"')
    return " AND ".join(clauses)


def _readable(grant: Grant, names: Sequence[str]) -> dict[str, Grant]:
    """The processes of these names the caller may read, each with the grant it is read
    under; 403 for a single name they may not read."""
    readable = {}
    for name in names:
        try:
            readable[name] = granted(grant.user, READS[BY_NAME[name].object_type])
        except Forbidden:
            if len(names) == 1:
                raise
    return readable


async def _within(session: AsyncSession, readable: Mapping[str, Grant],
                  executions: Sequence[WorkflowExecution]) -> list[WorkflowExecution]:
    """The executions whose objects are within reach of the grant their process is read
    under."""
    kept: set[str] = set()
    for name, reading in readable.items():
        object_type = BY_NAME[name].object_type
        ids = [int(e.id.rpartition("-")[2]) for e in executions
               if e.id.startswith(f"{object_type}-")]
        if reading.scope == Scope.ALL or not ids:
            kept.update(f"{object_type}-{key}" for key in ids)
            continue
        key = KEYS[object_type]
        kept.update(f"{object_type}-{found}" for found in await session.scalars(
            select(key).where(key.in_(ids), reading.where(key.class_))))
    return [e for e in executions if e.id in kept]


@router.get("/processes", response_model=list[ProcessOut])
async def list_processes(
    client: TemporalDep,
    session: SessionDep,
    grant: GrantDep,
    timeout: TemporalTimeout,
    type: ProcessType = None,
    status: Annotated[str | None, _keyword("CrmStatus")] = None,
    customer: Annotated[str | None, _keyword("CrmCustomerId")] = None,
    owner: Annotated[str | None, _keyword("CrmOwner (user id)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ProcessOut]:
    """The processes of the objects the caller may read, newest first (403 for a ``type``
    they may not read at all)."""
    readable = _readable(grant, [type] if type else PROCESS_NAMES)
    query = visibility_query(list(readable), status, customer, owner)
    shown: list[WorkflowExecution] = []
    page: list[WorkflowExecution] = []
    async for execution in client.list_workflows(query, page_size=limit, rpc_timeout=timeout):
        page.append(execution)
        if len(page) == limit:
            shown += await _within(session, readable, page)
            page = []
            if len(shown) >= limit:
                break
    shown += await _within(session, readable, page)
    return [ProcessOut(**_view(e)) for e in shown[:limit]]


async def _check_object(session: AsyncSession, grant: Grant, workflow_id: str) -> None:
    """The process's object exists (404) and the caller may read it (403)."""
    object_type, _, number = workflow_id.rpartition("-")
    reading = granted(grant.user, READS[object_type])
    key, kind = KEYS[object_type], KEYS[object_type].class_
    found = (await session.scalar(select(kind.id).where(key == int(number)))
             if int(number) <= MAX_ID else None)
    if found is None:
        raise NotFound("process", workflow_id)
    await reading.check(session, kind, found, f"{object_type} {found}")


@router.get("/processes/{workflow_id}", response_model=ProcessDetail)
async def get_process(
    workflow_id: WorkflowId, client: TemporalDep, session: SessionDep, grant: GrantDep,
    timeout: TemporalTimeout,
) -> ProcessDetail:
    """The process of an object the caller may read: its summary, details and state."""
    await _check_object(session, grant, workflow_id)
    handle = client.get_workflow_handle(workflow_id)
    try:
        description = await handle.describe(rpc_timeout=timeout)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise NotFound("process", workflow_id) from error
        raise
    state: dict[str, Any] | None = None
    state_error = None
    try:
        state = await handle.query("state", rpc_timeout=min(timeout, timedelta(seconds=5)))
    except Exception as error:  # no worker running, or a workflow without the query
        state_error = f"state not available: {error}"
    return ProcessDetail(
        **_view(description),
        summary=await description.static_summary(),
        details=await description.static_details(),
        state=state,
        state_error=state_error,
    )


def _view(execution: WorkflowExecution) -> dict[str, Any]:
    attributes = execution.typed_search_attributes
    return {
        "workflow_id": execution.id,
        "run_id": execution.run_id,
        "process": attributes.get(sa.CRM_PROCESS),
        "business_status": attributes.get(sa.CRM_STATUS),
        "customer_id": attributes.get(sa.CRM_CUSTOMER_ID),
        "owner": attributes.get(sa.CRM_OWNER),
        "amount": attributes.get(sa.CRM_AMOUNT),
        "execution_status": execution.status.name if execution.status else None,
        "started_at": execution.start_time,
        "closed_at": execution.close_time,
    }
