"""Starting processes in workflow tests and recordings, the way the API starts them."""

from __future__ import annotations

from typing import Any

from temporalio.client import Client, WorkflowHandle

from api.processes import quote_approval_input, start_lead_to_sale
from crm import db
from crm.models import Contact, Lead, User
from crm.policies import Policies
from crm.repo import quotes
from tests import factories
from workflows.lead_to_sale import LeadNurturingPolicy
from workflows.quote_approval import QuoteApproval, QuoteApprovalPolicy


async def start_lead(
    client: Client, task_queue: str, lead: Lead, policy: LeadNurturingPolicy
) -> WorkflowHandle[Any, Any]:
    """The lead's process, started by the API's own starter (as POST /leads does)."""
    return await start_lead_to_sale(client, task_queue, lead, Policies(lead_nurturing=policy))


async def submit_quote(
    client: Client, task_queue: str, sessions: db.Sessions, author: User, discount: str,
    policy: QuoteApprovalPolicy,
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
        QuoteApproval.run, data, id=f"quote-{quote.id}", task_queue=task_queue
    )
    return quote.id, handle
