"""Opening tickets in workflow tests and recordings, the way the API opens them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import TypeAdapter
from temporalio.client import Client, WorkflowHandle

from crm import db
from crm.policies import Policies
from crm.settings import Settings
from crm.support import NewTicket, record_ticket
from workflows.support_ticket import SupportTicket
from workflows.support_types import SupportPolicy, SupportTicketInput


async def recorded_ticket(
    sessions: db.Sessions, policy: SupportPolicy, **fields: Any,
) -> tuple[int, SupportTicketInput]:
    """A ticket from jane@acme.example (unless told otherwise), recorded as the API records
    it; its process not started yet."""
    new = NewTicket(**{"contact_email": "jane@acme.example", "subject": "Cannot log in",
                       "body": "Since this morning my password is refused.", **fields})
    async with db.unit_of_work(sessions) as session:
        ticket, start = await record_ticket(session, Settings(), Policies(support=policy), new)
        data = TypeAdapter(SupportTicketInput).validate_json(start.input)
    return ticket.id, data


async def start_ticket(client: Client, task_queue: str, ticket_id: int,
                       data: SupportTicketInput, *, task_timeout: timedelta | None = None,
                       ) -> WorkflowHandle[Any, Any]:
    return await client.start_workflow(SupportTicket.run, data, id=f"ticket-{ticket_id}",
                                       task_queue=task_queue, task_timeout=task_timeout)


async def open_ticket(
    client: Client, task_queue: str, sessions: db.Sessions, policy: SupportPolicy,
    **fields: Any,
) -> tuple[int, WorkflowHandle[Any, Any]]:
    """A ticket recorded (``recorded_ticket``), its process started with ``start_workflow``
    (time skips while a test awaits it)."""
    ticket_id, data = await recorded_ticket(sessions, policy, **fields)
    return ticket_id, await start_ticket(client, task_queue, ticket_id, data)
