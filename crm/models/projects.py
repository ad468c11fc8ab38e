"""Sale to project: project templates, projects with members and milestones, timesheets and
expenses."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crm.models.base import Base, Percent, Quantity, Timestamped


class ProjectTemplate(Base, Timestamped):
    """How a project is set up: its milestones, tasks, roles and invoicing schedule."""

    __tablename__ = "project_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    product_line: Mapped[str | None] = mapped_column(String(100), unique=True)
    """The sales of this product line become projects from this template."""
    plan: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The template itself (``crm.project_templates.ProjectTemplate`` as JSON)."""
    updated_at: Mapped[datetime | None]


class Project(Base, Timestamped):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    sale_id: Mapped[int] = mapped_column(ForeignKey("sales.id"), unique=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(32), default="planned", index=True)
    goals: Mapped[str | None] = mapped_column(Text)
    invoicing_policy: Mapped[str] = mapped_column(String(20), default="on_milestone")
    """on_milestone or schedule."""
    template: Mapped[str | None] = mapped_column(String(100))
    """The name of the template the project was set up from."""
    hourly_cost: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    """What an hour on a timesheet costs (from the template): the project's labour cost."""
    closed_at: Mapped[datetime | None]


class ProjectMember(Base):
    __tablename__ = "project_members"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(40), default="member")
    """account_owner, project_manager, or a role the template names."""


class Milestone(Base, Timestamped):
    __tablename__ = "milestones"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    name: Mapped[str] = mapped_column(String(200))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    due_on: Mapped[date | None]
    amount: Mapped[Decimal | None]
    """What is invoiced when the milestone is done (invoicing on milestones)."""
    billable_pct: Mapped[Decimal | None] = mapped_column(Percent)
    """Its share of the sale's amount."""
    status: Mapped[str] = mapped_column(String(32), default="open")
    """open, or completed."""
    completed_at: Mapped[datetime | None]
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Timesheet(Base, Timestamped):
    __tablename__ = "timesheets"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    worked_on: Mapped[date]
    hours: Mapped[Decimal] = mapped_column(Quantity)
    note: Mapped[str | None] = mapped_column(Text)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    """Who wrote it down: the person who worked, or their project manager."""


class Expense(Base, Timestamped):
    __tablename__ = "expenses"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    incurred_on: Mapped[date]
    amount: Mapped[Decimal]
    description: Mapped[str] = mapped_column(String(500))
