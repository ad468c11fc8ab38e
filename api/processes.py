"""Driving processes from the API: their inputs from the CRM's rows, signals, decisions.

Starting them (commit, then start; repair) is ``crm.launcher``'s, shared with the activities
that start another process.

**Every call to Temporal has a deadline** (``temporal_rpc_timeout_seconds``): Temporal
unavailable or too slow is a 503 with ``Retry-After``, never a hung request. A refusal from a
workflow's update validator or handler comes back as the CRM error it stands for
(NotAllowed → Forbidden, WrongStatus → Conflict, MissingInformation), so the API answers
403/409 with the workflow's own reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import (
    Client,
    RPCTimeoutOrCancelledError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from crm.errors import Conflict, CrmError, Forbidden, MissingInformation, ServiceUnavailable
from crm.launcher import deadline, launch
from crm.models import Contact, Lead, ProcessStart, Quote, User
from crm.policies import Policies
from crm.repo.quotes import totals
from crm.settings import Settings
from crm.start_marks import StartMarks
from workflows.contracts import Person
from workflows.lead_to_sale import LeadToSaleInput
from workflows.quote_approval import QuoteApproval, QuoteApprovalInput, QuotedLine, QuoteState
from workflows.refusals import MISSING_INFORMATION, NOT_ALLOWED, WRONG_STATUS

log = structlog.get_logger(__name__)

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


# Driving running processes ------------------------------------------------------------


async def submit_quote(
    session: AsyncSession, client: Client, settings: Settings, start: ProcessStart,
    *, fresh: bool = True, marks: StartMarks | None = None,
) -> QuoteState:
    """Start the submission's approval run and answer with where the submission led."""
    handle = await launch(session, client, settings, start, fresh=fresh, marks=marks)
    return await decide(
        settings, handle, QuoteApproval.submission_outcome, update_id=None,
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
    settings: Settings, handle: WorkflowHandle[Any, Any], update: Any, *args: Any,
    update_id: str | None, when_ended: Callable[[], CrmError],
) -> Any:
    """Hand a decision to a process (an update) and answer with its result.

    ``update_id`` names the decision (``Once.update_id``): the same id again gets the first
    one's outcome instead of deciding twice; None, a fresh one. A refusal by the validator,
    or by the handler because something else came first, is the matching CRM error; a
    process that has ended is ``when_ended()``. (Routers go through ``api.decisions``.)
    """
    try:
        return await _decide_once(settings, handle, update, args, update_id, when_ended)
    except WorkflowUpdateFailedError as error:
        raise _refusal(error.cause) from error


async def _decide_once(
    settings: Settings, handle: WorkflowHandle[Any, Any], update: Any, args: Any,
    update_id: str | None, when_ended: Callable[[], CrmError],
) -> Any:
    """The update's result; a refusal (by the validator, or by the handler because
    something else came first) raises ``WorkflowUpdateFailedError``."""
    try:
        started = await handle.start_update(update, args=args, id=update_id,
                                           wait_for_stage=WorkflowUpdateStage.ACCEPTED,
                                           rpc_timeout=deadline(settings))
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise when_ended() from error
        raise _unavailable(error) from error
    except RPCTimeoutOrCancelledError as error:
        raise _unavailable(error) from error
    try:
        return await started.result(rpc_timeout=deadline(settings))
    except (RPCError, RPCTimeoutOrCancelledError) as error:
        log.warning("decision accepted, not yet recorded", error=type(error).__name__)
        raise ServiceUnavailable(
            "the decision was accepted, but recording it takes longer than usual; it will "
            "be recorded: look at the object again shortly rather than deciding again"
        ) from error


def _detail(refusal: ApplicationError, key: str) -> Any:
    """A value a workflow's refusal carries (``workflows.refusals.refuse``), or None."""
    details = refusal.details[0] if refusal.details else None
    return details.get(key) if isinstance(details, dict) else None


def _refusal(cause: BaseException | None) -> CrmError:
    if isinstance(cause, ApplicationError):
        if cause.type == NOT_ALLOWED:
            return Forbidden(cause.message)
        if cause.type == MISSING_INFORMATION:
            missing = _detail(cause, "missing") or []
            return MissingInformation(cause.message, missing)
        if cause.type == WRONG_STATUS:
            return Conflict(cause.message)
    return Conflict(f"the process refused: {cause}")


def _unavailable(error: Exception) -> ServiceUnavailable:
    log.warning("Temporal did not answer", error=type(error).__name__)
    return ServiceUnavailable("Temporal does not answer in time; try again shortly")
