"""Invoice dunning: invoices with their lines, and the payments against them."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.models.base import Base, Timestamped


class Invoice(Base, Timestamped):
    __tablename__ = "invoices"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    sale_id: Mapped[int | None] = mapped_column(ForeignKey("sales.id"))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"), index=True)
    milestone_id: Mapped[int | None] = mapped_column(ForeignKey("milestones.id"))
    amount: Mapped[Decimal]
    """The invoiced lines' total, late fees apart."""
    late_fee: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    issued_on: Mapped[date] = mapped_column(index=True)
    due_on: Mapped[date]
    status: Mapped[str] = mapped_column(String(32), default="open", index=True)
    promised_on: Mapped[date | None]
    closed_at: Mapped[datetime | None]
    credited: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    """The credit note's amount: what an upheld dispute took off the open balance."""
    level_reached: Mapped[int] = mapped_column(default=0)
    """The highest level of the dunning ladder reached (0: none yet)."""
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    idempotency_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    """The issuing process and its purpose: issuing again under it makes no second invoice."""

    lines: Mapped[list[InvoiceLine]] = relationship(
        order_by="InvoiceLine.position", cascade="all, delete-orphan", lazy="selectin"
    )
    payments: Mapped[list[Payment]] = relationship(order_by="Payment.id", lazy="selectin")


class InvoiceLine(Base):
    """What the invoice charges: an item invoiced, or the late fee dunning added."""

    __tablename__ = "invoice_lines"
    __table_args__ = (UniqueConstraint("invoice_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    position: Mapped[int]
    description: Mapped[str] = mapped_column(String(500))
    amount: Mapped[Decimal]
    kind: Mapped[str] = mapped_column(String(16), default="item")
    """item, or late_fee."""


class Payment(Base, Timestamped):
    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    amount: Mapped[Decimal]
    received_at: Mapped[datetime]
    reference: Mapped[str | None] = mapped_column(String(120), unique=True)
    """The payment provider's reference: the same payment posted twice is kept once."""
    balance_after: Mapped[Decimal]
    """What the invoice still had open once this payment was counted."""
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
