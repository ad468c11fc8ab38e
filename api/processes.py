"""Driving processes from the API: start them, signal them, hand them decisions.

**Commit, then start.** A process is recorded (``process_starts``) in the same transaction as
the object it follows; only after the commit is it started, with the business-key workflow
id, a memo naming the recorded start, and a conflict policy that makes a retry safe. If the
start fails, the client gets 503 and the start stays pending: a retry of the request, or
``crmflow processes repair``, starts it. So a process never looks for a row that is not
committed yet, and no row is left without its process.

**Every call to Temporal has a deadline** (``temporal_rpc_timeout_seconds``): Temporal
unavailable or too slow is a 503 with ``Retry-After``, never a hung request. A refusal from a
workflow's update validator or handler comes back as the CRM error it stands for
(NotAllowed → Forbidden, WrongStatus → Conflict, MissingInformation), so the API answers
403/409 with the workflow's own reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import (
    Client,
    RPCTimeoutOrCancelledError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.problems import ServiceUnavailable
from crm import db
from crm.errors import Conflict, CrmError, Forbidden, MissingInformation
from crm.models import Contact, Lead, ProcessStart, Quote, User
from crm.policies import Policies
from crm.repo import starts
from crm.repo.quotes import totals
from crm.settings import Settings
from workflows import search_attributes as sa
from workflows.contracts import Person, StartOptions
from workflows.lead_to_sale import LeadToSaleInput
from workflows.quote_approval import QuoteApproval, QuoteApprovalInput, QuotedLine, QuoteState
from workflows.refusals import MISSING_INFORMATION, NOT_ALLOWED, WRONG_STATUS
from workflows.registry import BY_NAME, ProcessSpec

log = structlog.get_logger(__name__)

START_MEMO = "crm_start"
"""The memo naming the recorded start a run was started for."""


def deadline(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.temporal_rpc_timeout_seconds)


# Inputs, from the CRM's rows ----------------------------------------------------------


def lead_to_sale_input(lead: Lead, policies: Policies) -> LeadToSaleInput:
    return LeadToSaleInput(lead.id, lead.name, lead.email, lead.team_id, lead.owner_id,
                           policies.lead_nurturing, company=lead.company,
                           source=lead.source or "newsletter")


def quote_approval_input(
    quote: Quote, author: User, customer: str, contact: Contact, policies: Policies
) -> QuoteApprovalInput:
    return QuoteApprovalInput(
        quote_id=quote.id,
        lead_id=quote.lead_id,
        submission=quote.submission,
        author=Person(author.id, author.name, author.email),
        team_id=quote.team_id,
        customer=customer,
        customer_id=quote.account_id,
        contact_name=contact.name,
        contact_email=contact.email,
        currency=quote.currency,
        lines=[QuotedLine(line.description, line.quantity, line.unit_price)
               for line in quote.lines],
        discount_pct=quote.discount_pct,
        total=totals(quote).total,
        policy=policies.quote_approval,
    )


# Starting ---------------------------------------------------------------------------


async def record_start(
    session: AsyncSession, spec: ProcessSpec, object_id: int, data: Any
) -> ProcessStart:
    """Note that the object's process must start; the caller commits it with the object."""
    return await starts.record(
        session=session, process=spec.name, workflow_id=spec.workflow_id(object_id),
        object_type=spec.object_type, object_id=object_id,
        input_json=TypeAdapter(spec.input_type).dump_json(data).decode(),
    )


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
        id=spec.workflow_id(_object_id(spec, data)),
        task_queue=settings.temporal_task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        memo={START_MEMO: start_id},
        search_attributes=attributes(spec.name, options),
        static_summary=options.summary,
        static_details=options.details,
        rpc_timeout=deadline(settings),
    )


def _object_id(spec: ProcessSpec, data: Any) -> int:
    return int(getattr(data, f"{spec.object_type}_id"))


async def launch(
    session: AsyncSession, client: Client, settings: Settings, start: ProcessStart,
    *, fresh: bool = False,
) -> WorkflowHandle[Any, Any]:
    """Start a recorded process (once, however often called) and mark it started.

    ``fresh``: the start was recorded by this very request, so no run of it can exist yet.
    Otherwise a run of this start may already exist, running or ended; it is not repeated.
    Commits. Temporal unavailable → ServiceUnavailable, the start staying pending.
    """
    spec = BY_NAME[start.process]
    handle = client.get_workflow_handle(start.workflow_id)
    try:
        if fresh or await _started_for(handle, settings) < start.id:
            data: Any = TypeAdapter(spec.input_type).validate_json(start.input)
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
    await starts.mark_started(session=session, start_id=start.id,
                              run_id=handle.result_run_id or handle.run_id)
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


# Driving running processes ------------------------------------------------------------


async def submit_quote(
    session: AsyncSession, client: Client, settings: Settings, start: ProcessStart,
    *, fresh: bool = True,
) -> QuoteState:
    """Start the submission's approval run and answer with where the submission led."""
    handle = await launch(session, client, settings, start, fresh=fresh)
    return await decide(
        settings, lambda: handle.start_update(
            QuoteApproval.submission_outcome, wait_for_stage=WorkflowUpdateStage.ACCEPTED,
            rpc_timeout=deadline(settings)),
        when_ended=lambda: Conflict(f"{start.workflow_id} has already ended"),
    )


async def signal(
    handle: WorkflowHandle[Any, Any], settings: Settings, signal_name: Any, arg: Any = None
) -> bool:
    """Signal the process; False when it has already ended."""
    args = [] if arg is None else [arg]
    try:
        await handle.signal(signal_name, *args, rpc_timeout=deadline(settings))
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return False
        raise _unavailable(error) from error
    except RPCTimeoutOrCancelledError as error:
        raise _unavailable(error) from error
    return True


async def decide(
    settings: Settings, start_update: Callable[[], Any], *, when_ended: Callable[[], CrmError]
) -> Any:
    """Hand a decision to a process (an update) and answer with its result.

    A refusal by the validator, or by the handler because something else came first, is the
    matching CRM error; a process that has ended is ``when_ended()``.
    """
    try:
        update = await start_update()
    except WorkflowUpdateFailedError as error:
        raise _refusal(error.cause) from error
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise when_ended() from error
        raise _unavailable(error) from error
    except RPCTimeoutOrCancelledError as error:
        raise _unavailable(error) from error
    try:
        return await update.result(rpc_timeout=deadline(settings))
    except WorkflowUpdateFailedError as error:  # the handler found something came first
        raise _refusal(error.cause) from error
    except (RPCError, RPCTimeoutOrCancelledError) as error:
        log.warning("decision accepted, not yet recorded", error=type(error).__name__)
        raise ServiceUnavailable(
            "the decision was accepted, but recording it takes longer than usual; it will "
            "be recorded: look at the object again shortly rather than deciding again"
        ) from error


def _refusal(cause: BaseException | None) -> CrmError:
    if isinstance(cause, ApplicationError):
        if cause.type == NOT_ALLOWED:
            return Forbidden(cause.message)
        if cause.type == MISSING_INFORMATION:
            details = cause.details[0] if cause.details else {}
            missing = details.get("missing", []) if isinstance(details, dict) else []
            return MissingInformation(cause.message, missing)
        if cause.type == WRONG_STATUS:
            return Conflict(cause.message)
    return Conflict(f"the process refused: {cause}")


def _unavailable(error: Exception) -> ServiceUnavailable:
    log.warning("Temporal did not answer", error=type(error).__name__)
    return ServiceUnavailable("Temporal does not answer in time; try again shortly")
