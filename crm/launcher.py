"""Starting processes: recorded with their object, started after the commit, repaired.

**Commit, then start.** A process is recorded (``process_starts``) in the same transaction as
the object it follows; only after the commit is it started, with the business-key workflow
id, a memo naming the recorded start, and a conflict policy that makes a retry safe. If the
start fails, the caller gets ``ServiceUnavailable`` (503 from the API; a retry from an
activity) and the start stays pending: a retry of the request, or ``crmflow processes
repair``, starts it. So a process never looks for a row that is not committed yet, and no row
is left without its process. The API and the activities that start another process (a won
quote's project, an invoice's dunning) go through the same functions.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client, RPCTimeoutOrCancelledError, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from crm import db
from crm.errors import ServiceUnavailable
from crm.models import ProcessStart
from crm.repo import starts
from crm.settings import Settings
from crm.start_marks import StartMarks
from workflows import search_attributes as sa
from workflows.contracts import StartOptions
from workflows.registry import BY_NAME, ProcessSpec

log = structlog.get_logger(__name__)

START_MEMO = "crm_start"
"""The memo naming the recorded start a run was started for."""


def deadline(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.temporal_rpc_timeout_seconds)


# Starting ---------------------------------------------------------------------------


async def record_start(
    session: AsyncSession, spec: ProcessSpec, object_id: int, data: Any
) -> ProcessStart:
    """Note that the object's process must start; the caller commits it with the object."""
    return await starts.record(
        session=session, process=spec.name, workflow_id=spec.id_for(data),
        object_type=spec.object_type, object_id=object_id,
        input_json=_adapter(spec.input_type).dump_json(data).decode(),
    )


@functools.cache
def _adapter(input_type: type) -> TypeAdapter[Any]:
    """A process input's adapter, built once: building one costs more than a start's
    transaction (about 10 ms for an enrolment's input, a definition of 50 steps)."""
    return TypeAdapter(input_type)


def attributes(process: str, options: StartOptions) -> TypedSearchAttributes:
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(sa.CRM_PROCESS, process),
        SearchAttributePair(sa.CRM_STATUS, options.status),
    ]
    if options.customer_id is not None:
        pairs.append(SearchAttributePair(sa.CRM_CUSTOMER_ID, str(options.customer_id)))
    if options.owner is not None:
        pairs.append(SearchAttributePair(sa.CRM_OWNER, str(options.owner)))
    if options.amount is not None:
        pairs.append(SearchAttributePair(sa.CRM_AMOUNT, float(options.amount)))
    return TypedSearchAttributes(pairs)


async def start_workflow(
    client: Client, settings: Settings, spec: ProcessSpec, data: Any, *, start_id: int = 0,
) -> WorkflowHandle[Any, Any]:
    """Start the process's run for this input; WorkflowAlreadyStartedError if one runs."""
    options = spec.start_options(data)
    return await client.start_workflow(
        spec.workflow.run,  # type: ignore[attr-defined]
        data,
        id=spec.id_for(data),
        task_queue=settings.temporal_task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        memo={START_MEMO: start_id},
        search_attributes=attributes(spec.name, options),
        static_summary=options.summary,
        static_details=options.details,
        rpc_timeout=deadline(settings),
    )


async def launch(
    session: AsyncSession, client: Client, settings: Settings, start: ProcessStart,
    *, fresh: bool = False, marks: StartMarks | None = None,
) -> WorkflowHandle[Any, Any]:
    """Start a recorded process (once, however often called) and mark it started.

    ``fresh``: the start was recorded by this very request, so no run of it can exist yet.
    Otherwise a run of this start may already exist, running or ended; it is not repeated.
    ``marks``: the API's batch of marks, for a fresh start (written a moment later);
    otherwise the mark is committed here. Temporal unavailable → ServiceUnavailable, the
    start staying pending.
    """
    spec = BY_NAME[start.process]
    handle = client.get_workflow_handle(start.workflow_id)
    try:
        if fresh or await _started_for(handle, settings) < start.id:
            data: Any = _adapter(spec.input_type).validate_json(start.input)
            try:
                handle = await start_workflow(client, settings, spec, data, start_id=start.id)
            except WorkflowAlreadyStartedError:
                if await _started_for(handle, settings) < start.id:
                    raise ServiceUnavailable(
                        f"{start.workflow_id}: the run before this one is still finishing; "
                        f"the new one starts when it has", retry_after=2) from None
    except (RPCError, RPCTimeoutOrCancelledError, ServiceUnavailable) as error:
        await starts.note_failure(session=session, start_id=start.id, error=str(error))
        await session.commit()
        if isinstance(error, ServiceUnavailable):
            raise
        raise ServiceUnavailable(
            f"{start.object_type} {start.object_id} is saved, but its process could not start "
            f"(Temporal does not answer); send the request again, or run "
            f"'crmflow processes repair'") from error
    run_id = handle.result_run_id or handle.run_id
    if fresh and marks is not None:
        marks.note(start.id, run_id)
    else:
        await starts.mark_started(session=session, start_id=start.id, run_id=run_id)
        await session.commit()
    log.info("process started", workflow_id=start.workflow_id, process=start.process)
    return handle


async def _started_for(handle: WorkflowHandle[Any, Any], settings: Settings) -> int:
    """The recorded start the workflow id's latest run was started for (0: none, or older
    than process_starts)."""
    try:
        description = await handle.describe(rpc_timeout=deadline(settings))
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return 0
        raise
    return int(await description.memo_value(START_MEMO, 0))


async def resume(
    session: AsyncSession, client: Client, settings: Settings, workflow_id: str
) -> None:
    """Start whatever recorded start of this workflow id is still pending."""
    for start in await starts.pending(session=session, workflow_id=workflow_id):
        await launch(session, client, settings, start)


@dataclass
class Repaired:
    workflow_id: str
    outcome: str


async def repair(
    sessions: db.Sessions, client: Client, settings: Settings, *,
    older_than: timedelta = timedelta(seconds=30),
) -> list[Repaired]:
    """Start every recorded process still pending after ``older_than`` (a request that died
    between its commit and the start, or that met Temporal down)."""
    done = []
    async with sessions() as session:
        for start in await starts.pending(session=session, older_than=older_than):
            try:
                await launch(session, client, settings, start)
                done.append(Repaired(start.workflow_id, "started"))
            except ServiceUnavailable as error:
                done.append(Repaired(start.workflow_id, f"not started: {error.detail}"))
    return done
