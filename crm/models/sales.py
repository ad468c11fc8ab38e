"""Lead to sale: accounts and contacts, leads and what they did, quotes with lines, sales."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.models.base import Base, Percent, Quantity, Timestamped


class Account(Base, Timestamped):
    """A customer company (or person) the company sells to."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    billing_email: Mapped[str | None] = mapped_column(String(320))


class Contact(Base, Timestamped):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(40))


ACTIVE_LEAD_STATUSES = ("new", "nurturing", "engaged", "qualified")
_ACTIVE = text("status IN (" + ", ".join(f"'{s}'" for s in ACTIVE_LEAD_STATUSES) + ")")


class Lead(Base, Timestamped):
    __tablename__ = "leads"
    __table_args__ = (
        # The business says one: a person is followed by one active lead at a time.
        Index("uq_leads_active_email", "email", unique=True,
              postgresql_where=_ACTIVE, sqlite_where=_ACTIVE),
        Index("ix_leads_created_at", "created_at"),  # the insights' cohorts
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), index=True)
    company: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))
    country: Mapped[str | None] = mapped_column(String(2))
    """ISO 3166 code (FR, DE…), when known."""
    source: Mapped[str] = mapped_column(String(40), default="newsletter")
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(String(32), default="new", index=True)
    need: Mapped[str | None] = mapped_column(Text)
    budget: Mapped[Decimal | None]
    unsubscribed: Mapped[bool] = mapped_column(default=False)
    status_reason: Mapped[str | None] = mapped_column(Text)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    workflow_id: Mapped[str | None] = mapped_column(String(200))

    events: Mapped[list[LeadEvent]] = relationship(
        order_by="LeadEvent.id", cascade="all, delete-orphan", lazy="selectin"
    )


class LeadEvent(Base, Timestamped):
    """Something the lead did: downloaded content, requested a demo, unsubscribed, replied."""

    __tablename__ = "lead_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    type: Mapped[str] = mapped_column(String(40))
    content: Mapped[str | None] = mapped_column(String(200))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Quote(Base, Timestamped):
    __tablename__ = "quotes"
    __table_args__ = (Index("ix_quotes_created_at", "created_at"),)  # the insights' cohorts

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    status: Mapped[str] = mapped_column(String(32), default="draft", index=True)
    discount_pct: Mapped[Decimal] = mapped_column(Percent, default=Decimal("0"))
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    submission: Mapped[int] = mapped_column(default=0)
    """How many times the quote was submitted: each submission is one approval run."""
    valid_until: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decision_comment: Mapped[str | None] = mapped_column(Text)

    lines: Mapped[list[QuoteLine]] = relationship(
        order_by="QuoteLine.position", cascade="all, delete-orphan", lazy="selectin"
    )


class QuoteLine(Base):
    __tablename__ = "quote_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    quote_id: Mapped[int] = mapped_column(ForeignKey("quotes.id"), index=True)
    position: Mapped[int]
    description: Mapped[str] = mapped_column(String(500))
    quantity: Mapped[Decimal] = mapped_column(Quantity)
    unit_price: Mapped[Decimal]


class Sale(Base, Timestamped):
    """A won quote."""

    __tablename__ = "sales"

    id: Mapped[int] = mapped_column(primary_key=True)
    quote_id: Mapped[int] = mapped_column(ForeignKey("quotes.id"), unique=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    invoicing_policy: Mapped[str | None] = mapped_column(String(20))
    """How its project invoices: on_milestone or schedule; None: as the [project] policy says."""
    product_line: Mapped[str | None] = mapped_column(String(100))
    """What was sold: its project is set up from the template of this product line."""
