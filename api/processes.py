"""Driving processes from the API: start them, signal them, ask them to decide.

A refusal from a workflow's update validator comes back as the CRM error it stands for
(NotAllowed → Forbidden, WrongStatus → Conflict, MissingInformation), so the API answers
403/409 with the workflow's own reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.problems import ServiceUnavailable
from crm.errors import Conflict, CrmError, Forbidden, MissingInformation
from crm.models import Contact, Lead, Quote, User
from crm.policies import Policies
from crm.repo.quotes import totals
from workflows import search_attributes as sa
from workflows.contracts import Person
from workflows.lead_to_sale import LeadToSale, LeadToSaleInput
from workflows.quote_approval import QuoteApproval, QuoteApprovalInput, QuotedLine, QuoteState
from workflows.refusals import MISSING_INFORMATION, NOT_ALLOWED, WRONG_STATUS
from workflows.steps import plain

T = TypeVar("T")

PROCESSES: dict[str, type] = {
    "lead_to_sale": LeadToSale,
    "quote_approval": QuoteApproval,
}


def attributes(process: str, status: str, **extra: Any) -> TypedSearchAttributes:
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(sa.CRM_PROCESS, process),
        SearchAttributePair(sa.CRM_STATUS, status),
    ]
    keys: dict[str, SearchAttributeKey[Any]] = {
        "customer_id": sa.CRM_CUSTOMER_ID, "owner": sa.CRM_OWNER, "amount": sa.CRM_AMOUNT
    }
    for name, value in extra.items():
        if value is not None:
            key = keys[name]
            pairs.append(SearchAttributePair(key, float(value) if key is sa.CRM_AMOUNT
                                             else str(value)))
    return TypedSearchAttributes(pairs)


async def start_lead_to_sale(
    client: Client, task_queue: str, lead: Lead, policies: Policies
) -> WorkflowHandle[Any, Any]:
    origin = "created by a rep" if lead.source == "rep" else f"{lead.source} sign-up"
    return await _temporal(
        client.start_workflow(
            LeadToSale.run,
            LeadToSaleInput(lead.id, lead.name, lead.email, lead.team_id, lead.owner_id,
                            policies.lead_nurturing),
            id=f"lead-{lead.id}",
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            search_attributes=attributes("lead_to_sale", "new", owner=lead.owner_id),
            static_summary=f"Lead {lead.name}{f' ({lead.company})' if lead.company else ''}"
                           f" — {origin}",
            static_details=f"Lead {lead.id} <{lead.email}>; nurturing policy: "
                           f"{policies.lead_nurturing}",
        )
    )


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


async def submit_quote(client: Client, task_queue: str, quote: QuoteApprovalInput) -> QuoteState:
    """Start the quote's approval run and answer with where the submission led."""
    start = WithStartWorkflowOperation(
        QuoteApproval.run,
        quote,
        id=f"quote-{quote.quote_id}",
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        search_attributes=attributes(
            "quote_approval", "submitted", customer_id=quote.customer_id,
            owner=quote.author.user_id, amount=quote.total,
        ),
        static_summary=f"Quote {quote.quote_id} for {quote.customer} — "
                       f"{plain(quote.discount_pct)} % discount, {quote.total} {quote.currency}"
                       f" (submission {quote.submission})",
    )
    return await update(
        lambda: client.execute_update_with_start_workflow(
            QuoteApproval.submission_outcome, start_workflow_operation=start
        ),
        when_ended=lambda: Conflict(f"quote {quote.quote_id} is already being processed"),
    )


async def signal(handle: WorkflowHandle[Any, Any], signal_name: Any, arg: Any = None) -> bool:
    """Signal the process; False when it has already ended."""
    try:
        if arg is None:
            await handle.signal(signal_name)
        else:
            await handle.signal(signal_name, arg)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return False
        _raise_if_unavailable(error)
        raise
    return True


async def update(call: Callable[[], Any], *, when_ended: Callable[[], CrmError]) -> Any:
    """Run an update call; a validator's refusal becomes the matching CRM error."""
    try:
        return await call()
    except WorkflowUpdateFailedError as error:
        raise _refusal(error.cause) from error
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise when_ended() from error
        _raise_if_unavailable(error)
        raise
    except WorkflowAlreadyStartedError as error:
        raise when_ended() from error


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


async def _temporal(call: Any) -> Any:
    try:
        return await call
    except RPCError as error:
        _raise_if_unavailable(error)
        raise


def _raise_if_unavailable(error: RPCError) -> None:
    """Temporal down or too slow is a 503 (try again later), not a 500."""
    if error.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        raise ServiceUnavailable(f"Temporal does not answer: {error.message}") from error
