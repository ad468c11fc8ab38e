"""Request and response bodies shared by several routers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, TypeAdapter


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class StatusChangeOut(Out):
    from_status: str | None
    to_status: str
    actor: str
    reason: str | None
    changed_at: datetime


class EmailOut(Out):
    id: int
    recipient: str
    subject: str
    purpose: str
    template: str
    related_type: str | None
    related_id: int | None
    workflow_id: str | None
    status: str
    """pending, sending, sent, or failed (for good: ``last_error`` says why)."""
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


class TaskOut(Out):
    id: int
    kind: str
    title: str
    description: str | None
    assignee_id: int | None
    due_at: datetime | None
    status: str
    outcome: str | None
    related_type: str | None
    related_id: int | None
    workflow_id: str | None
    created_at: datetime
    completed_at: datetime | None


def as_json(adapter: TypeAdapter[Any], value: Any) -> Response:
    """The answer serialised once, straight to JSON bytes by the response model's adapter
    (built once): returned as it is, FastAPI does not validate it against the model again."""
    return Response(adapter.dump_json(value), media_type="application/json")
