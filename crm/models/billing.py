"""Invoice dunning: invoices and the payments against them."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

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
    late_fee: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    issued_on: Mapped[date]
    due_on: Mapped[date]
    status: Mapped[str] = mapped_column(String(32), default="open", index=True)
    promised_on: Mapped[date | None]
    closed_at: Mapped[datetime | None]


class Payment(Base, Timestamped):
    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    amount: Mapped[Decimal]
    received_at: Mapped[datetime]
    reference: Mapped[str | None] = mapped_column(String(120), unique=True)
    """The payment provider's reference: the same payment posted twice is kept once."""
