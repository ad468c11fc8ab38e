"""A ticket's emails: owed by its handlers, sent by its main loop, threaded for the customer.

Every email to the customer replies to the conversation so far (``In-Reply-To`` the
customer's latest email, else our latest one; ``References`` the thread), and its own
Message-ID joins the thread, so the customer's mail client shows the ticket as one thread
and an answer to any of them finds its way back to the ticket.
"""

from __future__ import annotations

from workflows import steps
from workflows.contracts import EmailToSend, Person
from workflows.support_types import SupportTicketInput, TicketEmail, TicketState

LONGEST_REFERENCES = 10
"""Message-IDs kept in References: the first one and the latest ones."""


class TicketMail:
    def __init__(self, ticket: SupportTicketInput, state: TicketState) -> None:
        self.ticket = ticket
        self.state = state

    def to_customer(self, template: str, purpose: str, summary: str, **context: object) -> None:
        """Owe the customer an email (sent by the process's main loop)."""
        customer = self.ticket.customer
        self.state.outbox.append(TicketEmail(Person(0, customer.name, customer.email), template,
                                             purpose, summary, context, to_customer=True))

    def to_staff(
        self, person: Person, template: str, purpose: str, summary: str, **context: object
    ) -> None:
        """Owe someone of the company an email about the ticket."""
        self.state.outbox.append(TicketEmail(person, template, purpose, summary, context))

    async def send(self, mail: TicketEmail) -> None:
        """Send one owed email through the outbox (once per purpose)."""
        ticket, thread = self.ticket, self.state.thread
        in_reply_to, references, reply_to = None, [], None
        if mail.to_customer:
            in_reply_to = self.state.customer_message_id or (thread[-1] if thread else None)
            references = thread if len(thread) <= LONGEST_REFERENCES else (
                thread[:1] + thread[1 - LONGEST_REFERENCES:])
            reply_to = ticket.support_address
        outcome = await steps.send_email(
            EmailToSend(
                to=mail.to.email,
                template=mail.template,
                purpose=mail.purpose,
                context={
                    "ticket_id": ticket.ticket_id,
                    "subject": ticket.subject,
                    "category": ticket.category,
                    "priority": self.state.priority,
                    "customer_name": ticket.customer.name,
                    "recipient_name": mail.to.name,
                    **mail.context,
                },
                related_type="ticket",
                related_id=ticket.ticket_id,
                in_reply_to=in_reply_to,
                references=list(references),
                reply_to=reply_to,
            ),
            summary=mail.summary,
        )
        if mail.to_customer and outcome.status != "refused" and outcome.message_id not in thread:
            thread.append(outcome.message_id)
