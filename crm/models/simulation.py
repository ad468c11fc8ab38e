"""Simulations: a policy or a workflow replayed over real past cases, and what it found."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crm.models.base import Base, Timestamped


class Simulation(Base, Timestamped):
    """One simulation asked for: what it replays, how far it got, and its result."""

    __tablename__ = "simulations"

    id: Mapped[int] = mapped_column(primary_key=True)
    process: Mapped[str] = mapped_column(String(64))
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    """What was asked: the process, the policy changes, the cases."""
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    """``queued``, ``running``, ``done`` or ``failed`` (``error`` says why)."""
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    """The team whose cases it replays (a sales manager's), or None for all."""
    cases_total: Mapped[int | None]
    cases_done: Mapped[int] = mapped_column(default=0)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    finished_at: Mapped[datetime | None]
