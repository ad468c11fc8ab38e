"""What every process shares: tasks, the status history and the email outbox."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm.models.base import Base, Timestamped


class Task(Base, Timestamped):
    """A piece of back-office work for one person: call a lead, check a document."""

    __tablename__ = "tasks"
    __table_args__ = (Index("ix_tasks_related", "related_type", "related_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    due_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    outcome: Mapped[str | None] = mapped_column(Text)
    related_type: Mapped[str | None] = mapped_column(String(32))
    related_id: Mapped[int | None]
    workflow_id: Mapped[str | None] = mapped_column(String(200))
    idempotency_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    completed_at: Mapped[datetime | None]
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class StatusChange(Base):
    """One status change of one business object: from, to, who, when, why."""

    __tablename__ = "status_changes"
    __table_args__ = (
        # An object's timeline in order: its history, and the time it spent in each status.
        Index("ix_status_changes_timeline", "object_type", "object_id", "changed_at"),
        # What changed in a period: the insights' cases, and the stays that ended then (with
        # every column a cycle time reads, the index alone answers it).
        Index("ix_status_changes_period", "object_type", "changed_at", "from_status",
              "to_status", "entered_at", "object_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[int]
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(200))
    """'user:<id>' for a person, the workflow id for a process decision."""
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str | None] = mapped_column(Text)
    workflow_id: Mapped[str | None] = mapped_column(String(200))
    idempotency_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    changed_at: Mapped[datetime]
    entered_at: Mapped[datetime]
    """When the object entered ``from_status``: the stay this change ends began then (the
    object's latest earlier change of status, or its creation)."""


class OutboxEmail(Base, Timestamped):
    """An email a process sends: recorded before the SMTP conversation, kept forever."""

    __tablename__ = "email_outbox"
    __table_args__ = (Index("ix_email_outbox_related", "related_type", "related_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(300), unique=True)
    purpose: Mapped[str] = mapped_column(String(120))
    template: Mapped[str] = mapped_column(String(64))
    recipient: Mapped[str] = mapped_column(String(320), index=True)
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(300))
    related_type: Mapped[str | None] = mapped_column(String(32))
    related_id: Mapped[int | None]
    workflow_id: Mapped[str | None] = mapped_column(String(200))
    attachments: Mapped[list[int] | None] = mapped_column(JSON, default=None)
    """The files it carries (``files`` ids): a document rendered for it."""
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    """pending → sent, or failed (for good: see ``last_error``); 'sending' while an SMTP
    conversation is under way."""
    attempts: Mapped[int] = mapped_column(default=0)
    attempted_at: Mapped[datetime | None]
    """When the last SMTP conversation began: a later attempt waits until it cannot be alive."""
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]


class ProcessStart(Base, Timestamped):
    """A process the CRM decided to start, written in the same transaction as its object.

    Started after the commit and marked so; one left unstarted (Temporal was down, the API
    died in between) is started by a retry of the same request or by ``crmflow processes
    repair``: no object is ever left without its process.
    """

    __tablename__ = "process_starts"

    id: Mapped[int] = mapped_column(primary_key=True)
    process: Mapped[str] = mapped_column(String(64))
    workflow_id: Mapped[str] = mapped_column(String(200), index=True)
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[int]
    input: Mapped[str] = mapped_column(Text)
    """The workflow's input as JSON, exactly as it is to be started."""
    started_at: Mapped[datetime | None] = mapped_column(index=True)
    run_id: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class IdempotentRequest(Base, Timestamped):
    """A request sent with an ``Idempotency-Key``, and the answer it got: the same key and
    the same request get the same answer again, without doing anything twice."""

    __tablename__ = "idempotent_requests"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    key: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the method, the path and the body: another request under the same key is
    refused, not answered with someone else's answer."""
    status_code: Mapped[int]
    response: Mapped[str] = mapped_column(Text)
    workflow_id: Mapped[str | None] = mapped_column(String(200))
    """The process the request started, if any: a replay makes sure it runs."""
