"""What the API shows of a ticket: its row, messages, SLA clocks, tasks and history.

The clocks come from the ticket's process (remaining working time, paused or running) when
it answers; otherwise from the row (due times only), so a ticket can always be read.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from api.schemas import Out, StatusChangeOut, TaskOut
from crm.launcher import deadline
from crm.models import Ticket
from crm.repo import history, tasks, tickets
from crm.settings import Settings
from workflows.registry import SUPPORT_TICKET
from workflows.support_ticket import SupportTicket
from workflows.support_types import TicketView

QUERY_DEADLINE = 3.0
"""Seconds a ticket view waits for its process's clocks before showing the row's."""


class ClockOut(BaseModel):
    name: str = Field(description="first_response or resolution")
    state: str = Field(description="running, paused, met, breached (overdue), missed (met "
                                   "late), or unknown while the process does not answer")
    due_at: datetime | None = Field(description="None while paused or stopped")
    remaining: timedelta | None = Field(description="Working time left (negative: overdue)")
    target: timedelta | None


class MessageOut(Out):
    id: int
    author: str
    author_user_id: int | None
    body: str
    message_id: str | None
    created_at: datetime


class TicketOut(Out):
    id: int
    status: str
    subject: str
    category: str
    priority: str
    channel: str
    requester_email: str
    requester_name: str | None
    account_id: int | None
    assignee_id: int | None
    invoice_id: int | None
    first_response_due: datetime | None
    resolution_due: datetime | None
    first_responded_at: datetime | None
    waiting_since: datetime | None
    escalated_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    resolution: str | None
    dispute_upheld: bool | None
    rating: int | None
    rating_comment: str | None
    reopenings: int
    awaited_document: str | None = Field(description="The document the ticket waits for "
                                         "from the customer (proof_of_address)")
    created_at: datetime
    process_id: str


class TicketDetail(TicketOut):
    waiting_for: str | None = Field(description="What the ticket is at, as its process says")
    closes_at: datetime | None
    clocks: list[ClockOut]
    messages: list[MessageOut]
    tasks: list[TaskOut]
    history: list[StatusChangeOut]


def summary(ticket: Ticket) -> TicketOut:
    """The ticket's row as the queues show it."""
    return TicketOut.model_validate({
        **{name: getattr(ticket, name) for name in TicketOut.model_fields
           if name != "process_id"},
        "process_id": SUPPORT_TICKET.workflow_id(ticket.id),
    })


def clocks_from_row(ticket: Ticket) -> list[ClockOut]:
    """The clocks as far as the row knows them (due times), when the process is silent."""
    first_state = "met" if ticket.first_responded_at else "unknown"
    resolution_state = "met" if ticket.resolved_at else "unknown"
    return [ClockOut(name="first_response", state=first_state, remaining=None, target=None,
                     due_at=ticket.first_response_due),
            ClockOut(name="resolution", state=resolution_state, remaining=None, target=None,
                     due_at=ticket.resolution_due)]


async def process_view(client: Client, settings: Settings, ticket_id: int) -> TicketView | None:
    """The ticket as its process sees it, or None when the process does not answer soon."""
    handle = client.get_workflow_handle(SUPPORT_TICKET.workflow_id(ticket_id))
    with contextlib.suppress(Exception):  # ended without a worker, Temporal away: the row
        return await handle.query(SupportTicket.current_state,
                                  rpc_timeout=min(deadline(settings),
                                                  timedelta(seconds=QUERY_DEADLINE)))
    return None


async def detail(session: AsyncSession, ticket_id: int, view: TicketView | None) -> TicketDetail:
    """The ticket with the process's view of its clocks (expire the session first to see
    what the process has written since it was read)."""
    await session.flush()
    ticket = await tickets.get_ticket(session=session, ticket_id=ticket_id)
    clocks = ([ClockOut(name=c.name, state=c.state, due_at=c.due_at, remaining=c.remaining,
                        target=c.target) for c in view.clocks] if view and view.clocks
              else clocks_from_row(ticket))
    messages = await tickets.messages_of(session=session, ticket_id=ticket_id)
    spawned = await tasks.list_tasks(session=session, related_type="ticket",
                                     related_id=ticket_id)
    changes = await history.history_of(session=session, object_type="ticket",
                                       object_id=ticket_id)
    return TicketDetail.model_validate({
        **summary(ticket).model_dump(),
        "waiting_for": view.waiting_for if view else None,
        "closes_at": view.closes_at if view else None,
        "clocks": clocks,
        "messages": [MessageOut.model_validate(m) for m in messages],
        "tasks": [TaskOut.model_validate(t) for t in spawned],
        "history": [StatusChangeOut.model_validate(c) for c in changes],
    })
