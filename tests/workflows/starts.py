"""Starting processes in workflow tests and recordings, the way the API starts them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle

from api.processes import lead_to_sale_input, quote_approval_input
from crm import db
from crm.launcher import start_workflow
from crm.models import Contact, Lead, User
from crm.policies import Policies
from crm.repo import quotes
from crm.settings import Settings
from tests import factories
from workflows.lead_to_sale import LeadNurturingPolicy, LeadToSale
from workflows.quote_approval import QuoteApproval, QuoteApprovalPolicy
from workflows.registry import LEAD_TO_SALE


async def start_lead(
    client: Client, task_queue: str, lead: Lead, policy: LeadNurturingPolicy,
    *, task_timeout: timedelta | None = None,
) -> WorkflowHandle[Any, Any]:
    """The lead's process, started by the API's own starter (as POST /leads does); with a
    ``task_timeout``, directly, so that a slow local activity lets messages in sooner."""
    data = lead_to_sale_input(lead, Policies(lead_nurturing=policy))
    if task_timeout is not None:
        return await client.start_workflow(LeadToSale.run, data, id=f"lead-{lead.id}",
                                           task_queue=task_queue, task_timeout=task_timeout)
    return await start_workflow(client, Settings(temporal_task_queue=task_queue), LEAD_TO_SALE,
                                data)


async def submit_quote(
    client: Client, task_queue: str, sessions: db.Sessions, author: User, discount: str,
    policy: QuoteApprovalPolicy, *, task_timeout: timedelta | None = None,
) -> tuple[int, WorkflowHandle[Any, Any]]:
    """A qualified lead of the author's, a one-line quote with this discount, submitted.

    Started with ``start_workflow`` rather than the API's update-with-start, so that the
    time-skipping server skips time while a test awaits the handle's result.
    """
    lead = await factories.qualified_lead(sessions, author)
    quote = await factories.quote(sessions, lead, author, discount_pct=discount)
    async with db.unit_of_work(sessions) as session:
        quote = await quotes.get_quote(session=session, quote_id=quote.id)
        quote.submission = 1
        contact = await session.get(Contact, quote.contact_id)
        assert contact is not None
        data = quote_approval_input(quote, author, "Acme", contact,
                                    Policies(quote_approval=policy))
    handle = await client.start_workflow(
        QuoteApproval.run, data, id=f"quote-{quote.id}", task_queue=task_queue,
        task_timeout=task_timeout,
    )
    return quote.id, handle
