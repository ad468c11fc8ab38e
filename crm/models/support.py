"""Support: tickets and the messages exchanged on them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from crm.models.base import Base, Timestamped

OPEN_TICKET_STATUSES = ("new", "queued", "open", "waiting_on_customer", "back_office")
"""A ticket in one of these is still being worked on (it counts in its agent's load)."""
_OPEN = text("status IN (" + ", ".join(f"'{s}'" for s in OPEN_TICKET_STATUSES) + ")")


class Ticket(Base, Timestamped):
    __tablename__ = "tickets"
    __table_args__ = (
        # One dispute at a time per invoice: opening it twice opens one billing ticket.
        Index("uq_tickets_open_invoice", "invoice_id", unique=True,
              postgresql_where=_OPEN, sqlite_where=_OPEN),
        Index("ix_tickets_created_at", "created_at"),  # the insights' cohorts
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    requester_email: Mapped[str] = mapped_column(String(320))
    requester_name: Mapped[str | None] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(300))
    category: Mapped[str] = mapped_column(String(64), index=True)
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    opened_priority: Mapped[str | None] = mapped_column(String(16))
    """The priority it was opened with: the targets it was first held to (a breach raises
    ``priority``)."""
    channel: Mapped[str] = mapped_column(String(16), default="web")
    status: Mapped[str] = mapped_column(String(32), default="new", index=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    """A billing ticket about a disputed invoice."""
    first_response_due: Mapped[datetime | None]
    resolution_due: Mapped[datetime | None]
    """Both None while their clock is paused (waiting on the customer) or stopped."""
    first_responded_at: Mapped[datetime | None]
    first_response_breached_at: Mapped[datetime | None]
    resolution_breached_at: Mapped[datetime | None]
    """When each target was missed (None: met, or not yet due)."""
    waiting_since: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    resolution: Mapped[str | None] = mapped_column(Text)
    dispute_upheld: Mapped[bool | None]
    rating: Mapped[int | None]
    rating_comment: Mapped[str | None] = mapped_column(Text)
    reopenings: Mapped[int] = mapped_column(default=0)
    awaited_document: Mapped[str | None] = mapped_column(String(64))
    """The kind of document the ticket waits for from the customer (proof_of_address): an
    email's attachment then arrives as it."""
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class TicketMessage(Base, Timestamped):
    __tablename__ = "ticket_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    author: Mapped[str] = mapped_column(String(16))
    """'customer' or 'agent'."""
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(300), unique=True)
    """The email's Message-ID (the customer's, or the one carrying an agent's answer): an
    email delivered twice is one message, and a reply to it finds the ticket."""
    idempotency_key: Mapped[str | None] = mapped_column(String(300), unique=True)
