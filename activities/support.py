"""Support activities: routing a ticket, recording its messages, keeping its row in step.

Each idempotent and scheduled (``workflows.steps.write``): the assignment keeps the agent a
ticket already has, a message is kept once per purpose (or per email), the ticket's facts
are written as a whole.
"""

from __future__ import annotations

from dataclasses import asdict

from temporalio import activity
from temporalio.client import Client

from activities.email import message_id
from crm import db
from crm.repo import tickets
from crm.settings import Settings
from crm.support import open_billing_ticket
from workflows.contracts import OPEN_DISPUTE_TICKET, DisputeToRaise, Person, RaisedDispute
from workflows.support_types import (
    ASSIGN_TICKET,
    RECORD_TICKET_MESSAGE,
    SAVE_TICKET,
    TicketFacts,
    TicketMessageToRecord,
    TicketToRoute,
)


class SupportActivities:
    def __init__(self, sessions: db.Sessions) -> None:
        self.sessions = sessions

    @activity.defn(name=ASSIGN_TICKET)
    async def assign_ticket(self, request: TicketToRoute) -> Person | None:
        """Give the ticket to the best-suited available agent, atomically; None: nobody
        fits, the ticket waits in the team queue."""
        async with db.unit_of_work(self.sessions) as session:
            agent = await tickets.assign_agent(
                session=session, ticket_id=request.ticket_id, category=request.category,
                capacity=request.capacity)
            return Person(agent.id, agent.name, agent.email) if agent else None

    @activity.defn(name=RECORD_TICKET_MESSAGE)
    async def record_ticket_message(self, message: TicketMessageToRecord) -> int:
        """Keep a message on the ticket; an agent's takes the Message-ID of its email."""
        workflow_id = activity.info().workflow_id
        email_id = message.email_message_id
        if message.reply_email_purpose is not None:
            email_id = message_id(f"{workflow_id}:{message.reply_email_purpose}")
        async with db.unit_of_work(self.sessions) as session:
            row = await tickets.add_message(
                session=session, ticket_id=message.ticket_id, author=message.author,
                body=message.body, author_user_id=message.author_user_id, message_id=email_id,
                idempotency_key=f"{workflow_id}:{message.purpose}")
            await session.flush()
            return row.id

    @activity.defn(name=SAVE_TICKET)
    async def save_ticket(self, facts: TicketFacts) -> None:
        """Write what the process knows of the ticket besides its status."""
        async with db.unit_of_work(self.sessions) as session:
            ticket = await tickets.get_ticket(session=session, ticket_id=facts.ticket_id)
            for name, value in asdict(facts).items():
                if name != "ticket_id":
                    setattr(ticket, name, value)


class DisputeTickets:
    """Support's side of an invoice dispute: a billing ticket, with its own process."""

    def __init__(self, sessions: db.Sessions, client: Client, settings: Settings) -> None:
        self.sessions, self.client, self.settings = sessions, client, settings

    @activity.defn(name=OPEN_DISPUTE_TICKET)
    async def open_dispute_ticket(self, dispute: DisputeToRaise) -> RaisedDispute:
        """Open the billing ticket about the invoice and start it (once per dispute); its
        resolution will tell the invoice's process (DISPUTE_RESOLVED)."""
        async with self.sessions() as session:
            ticket = await open_billing_ticket(session, self.client, self.settings,
                                               dispute.invoice_id, dispute.account_id,
                                               dispute.reason, dispute.by_user_id)
            return RaisedDispute(ticket_id=ticket.id)
