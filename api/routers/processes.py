"""Process views from Temporal visibility: the same queries an engineer types in the Web UI."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from temporalio.client import WorkflowExecution
from temporalio.service import RPCError, RPCStatusCode

from api.deps import StaffUser, TemporalDep, TemporalTimeout
from crm.errors import NotFound
from workflows import search_attributes as sa
from workflows.registry import PROCESSES

router = APIRouter(tags=["processes"])

PROCESS_NAMES = [p.name for p in PROCESSES]
ProcessType = Annotated[str | None, Query(
    pattern="^(" + "|".join(PROCESS_NAMES) + ")$",
    description="CrmProcess: " + ", ".join(PROCESS_NAMES))]
KEYWORD = r"^[A-Za-z0-9_.@:-]+$"


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
    process: str | None, status: str | None, customer: str | None, owner: str | None
) -> str:
    """A Temporal visibility query; values are already restricted to safe characters."""
    clauses = [f'CrmProcess = "{process}"' if process else
               "CrmProcess IN (" + ", ".join(f'"{name}"' for name in PROCESS_NAMES) + ")"]
    for attribute, value in (("CrmStatus", status), ("CrmCustomerId", customer),
                             ("CrmOwner", owner)):
        if value:
            clauses.append(f'{attribute} = "{value}"')
    return " AND ".join(clauses)


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


@router.get("/processes", response_model=list[ProcessOut])
async def list_processes(
    client: TemporalDep,
    _: StaffUser,
    timeout: TemporalTimeout,
    type: ProcessType = None,
    status: Annotated[str | None, Query(pattern=KEYWORD, description="CrmStatus")] = None,
    customer: Annotated[str | None, Query(pattern=KEYWORD, description="CrmCustomerId")] = None,
    owner: Annotated[str | None, Query(pattern=KEYWORD, description="CrmOwner (user id)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ProcessOut]:
    query = visibility_query(type, status, customer, owner)
    executions = client.list_workflows(query, limit=limit, rpc_timeout=timeout)
    return [ProcessOut(**_view(e)) async for e in executions]


@router.get("/processes/{workflow_id}", response_model=ProcessDetail)
async def get_process(
    workflow_id: str, client: TemporalDep, _: StaffUser, timeout: TemporalTimeout
) -> ProcessDetail:
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
