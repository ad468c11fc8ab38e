"""Sale to project: projects with members, milestones, timesheets and expenses."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crm.models.base import Base, Quantity, Timestamped


class Project(Base, Timestamped):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    sale_id: Mapped[int] = mapped_column(ForeignKey("sales.id"), unique=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(32), default="open", index=True)
    goals: Mapped[str | None] = mapped_column(Text)
    invoicing_policy: Mapped[str] = mapped_column(String(20), default="milestones")
    closed_at: Mapped[datetime | None]


class ProjectMember(Base):
    __tablename__ = "project_members"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(40), default="member")


class Milestone(Base, Timestamped):
    __tablename__ = "milestones"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    due_on: Mapped[date | None]
    amount: Mapped[Decimal | None]
    """What is invoiced when the milestone is done (invoicing on milestones)."""
    status: Mapped[str] = mapped_column(String(32), default="open")
    completed_at: Mapped[datetime | None]


class Timesheet(Base, Timestamped):
    __tablename__ = "timesheets"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    worked_on: Mapped[date]
    hours: Mapped[Decimal] = mapped_column(Quantity)
    note: Mapped[str | None] = mapped_column(Text)


class Expense(Base, Timestamped):
    __tablename__ = "expenses"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    incurred_on: Mapped[date]
    amount: Mapped[Decimal]
    description: Mapped[str] = mapped_column(String(500))
