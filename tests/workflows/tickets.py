"""Opening tickets in workflow tests and recordings, the way the API opens them."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter
from temporalio.client import Client, WorkflowHandle

from crm import db
from crm.policies import Policies
from crm.settings import Settings
from crm.support import NewTicket, record_ticket
from workflows.support_ticket import SupportTicket
from workflows.support_types import SupportPolicy, SupportTicketInput


async def open_ticket(
    client: Client, task_queue: str, sessions: db.Sessions, policy: SupportPolicy,
    **fields: Any,
) -> tuple[int, WorkflowHandle[Any, Any]]:
    """A ticket from jane@acme.example (unless told otherwise), recorded as the API records
    it, its process started with ``start_workflow`` (time skips while a test awaits it)."""
    new = NewTicket(**{"contact_email": "jane@acme.example", "subject": "Cannot log in",
                       "body": "Since this morning my password is refused.", **fields})
    async with db.unit_of_work(sessions) as session:
        ticket, start = await record_ticket(session, Settings(), Policies(support=policy), new)
        data = TypeAdapter(SupportTicketInput).validate_json(start.input)
    handle = await client.start_workflow(SupportTicket.run, data, id=f"ticket-{ticket.id}",
                                         task_queue=task_queue)
    return ticket.id, handle
