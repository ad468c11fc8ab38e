"""Your own workflows: definitions, their published versions, and the objects enrolled."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm.models.base import Base, Timestamped


class WorkflowDefinition(Base, Timestamped):
    """A workflow a business defined: its draft, and which published version is active."""

    __tablename__ = "workflow_definitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    object_type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    """``draft`` (never published), ``active`` (enrols into ``active_version``), ``archived``
    (enrols no more; its enrolments run to their end)."""
    draft: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """The definition being edited; None once published and not edited since."""
    draft_updated_at: Mapped[datetime | None]
    active_version: Mapped[int | None]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class DefinitionVersion(Base):
    """One published version, immutable: what its enrolments run."""

    __tablename__ = "workflow_definition_versions"
    __table_args__ = (UniqueConstraint("definition_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("workflow_definitions.id"))
    version: Mapped[int]
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    published_at: Mapped[datetime]
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Enrolment(Base, Timestamped):
    """One object going through one version of a definition."""

    __tablename__ = "enrolments"
    __table_args__ = (
        Index("ix_enrolments_object", "object_type", "object_id"),
        Index("ix_enrolments_definition", "definition_id", "version"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("workflow_definitions.id"))
    version: Mapped[int]
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[int]
    workflow_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="running", index=True)
    """``running``, ``completed``, ``goal_reached`` or ``cancelled``."""
    step: Mapped[str | None] = mapped_column(String(40))
    """The step it is in (or ended in)."""
    outcome: Mapped[str | None] = mapped_column(Text)
    enrolled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    ended_at: Mapped[datetime | None]


class EnrolmentStep(Base):
    """A step an enrolment entered, in order: its history on the case page."""

    __tablename__ = "enrolment_steps"
    __table_args__ = (UniqueConstraint("enrolment_id", "step", "visit"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolments.id"), index=True)
    step: Mapped[str] = mapped_column(String(40))
    visit: Mapped[int]
    entered_at: Mapped[datetime]
    note: Mapped[str | None] = mapped_column(Text, default=None)
    """What the step decided, when it decided something (an approval: by whom, why)."""
