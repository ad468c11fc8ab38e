"""A workflow of your own as a simulation runs it: "what would this draft have done with
the leads of the last 30 days?" A case is one object (created in the period, or named);
each run enrols it — in the active version, then in the draft — when it meets that
version's enrolment condition, and replays what happened to it: the events that reached it
(a lead's downloads, demo requests…) and its status changes, at their offsets from its
creation. A step that reads the object reads it as it was at that moment (its status from
the history; its other fields as they are now).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.models import LeadEvent, StatusChange
from crm.models.base import utcnow
from crm.repo import own
from crm.repo.own import MODELS
from simulation.cases import Case, OutsideEvent, Selection, Subject, aware, fixed
from workflows.business_time import Calendar
from workflows.own import expressions
from workflows.own.contracts import EnrolmentInput, ObjectFields, typed
from workflows.own.definition import Definition
from workflows.own.interpreter import OwnWorkflow
from workflows.registry import OWN_WORKFLOW
from workflows.roles import Role

ENDS = ("completed", "goal_reached", "cancelled")


@dataclass
class Followed:
    """The object a case follows, and what a run needs to enrol it."""

    definition_id: int
    object_type: str
    object_id: int
    fields: dict[str, Any]
    """Its fields as the expression language reads them (as they are now)."""
    calendars: dict[str, Calendar]


async def objects(session: AsyncSession, definition_id: int, object_type: str,
                  chosen: Selection, limit: int, calendars: dict[str, Calendar]
                  ) -> list[Case]:
    """The objects chosen (created in the period, of the team, or named), oldest first."""
    model: Any = MODELS[object_type]
    query = select(model)
    if chosen.object_ids is not None:
        query = query.where(model.id.in_(chosen.object_ids))
    if chosen.since is not None:
        query = query.where(model.created_at >= chosen.since)
    if chosen.until is not None:
        query = query.where(model.created_at < chosen.until)
    if chosen.team_id is not None and hasattr(model, "team_id"):
        query = query.where(model.team_id == chosen.team_id)
    cases = []
    for row in await session.scalars(query.order_by(model.created_at, model.id)
                                     .limit(limit + 1)):
        fields = typed(object_type, ObjectFields(await own.fields(
            session=session, object_type=object_type, object_id=row.id)))
        cases.append(Case(f"{object_type} {row.id}", row.id, f"{object_type}-{row.id}",
                          aware(row.created_at),
                          Followed(definition_id, object_type, row.id, fields, calendars)))
    for case in cases:
        case.events = await events(session, case, None)
    return cases


async def events(session: AsyncSession, case: Case,
                 until: datetime | None) -> list[OutsideEvent]:
    """Its events (a lead's) and its status changes: each tells the enrolment."""
    followed: Followed = case.data
    found = []
    if followed.object_type == "lead":
        for event in await session.scalars(select(LeadEvent).where(
                LeadEvent.lead_id == case.object_id).order_by(LeadEvent.id)):
            found.append(OutsideEvent(aware(event.created_at) - case.started_at, event.type,
                                      OwnWorkflow.event_happened, fixed(event.type),
                                      signal=True))
    for change in await session.scalars(select(StatusChange).where(
            StatusChange.object_type == followed.object_type,
            StatusChange.object_id == case.object_id).order_by(StatusChange.changed_at)):
        found.append(OutsideEvent(aware(change.changed_at) - case.started_at,
                                  f"{followed.object_type} {change.to_status}",
                                  OwnWorkflow.object_changed, fixed(None), signal=True))
    return sorted(found, key=lambda e: e.after)


def prepared(followed: Followed, definition: Definition | None,
             _shift: timedelta) -> EnrolmentInput | None:
    """The enrolment, or None when the version would not enrol the object (no version, or
    its condition does not hold)."""
    if definition is None:
        return None
    condition = definition.trigger.condition
    if condition and not expressions.holds(expressions.parse(condition), followed.fields,
                                           utcnow()):
        return None
    return EnrolmentInput(-followed.object_id, followed.definition_id, 0, definition,
                          followed.object_type, followed.object_id,
                          calendars=followed.calendars)


def subject(object_type: str) -> Subject:
    """Your own workflows on one kind of object."""
    return Subject(
        process=OWN_WORKFLOW, run=OwnWorkflow.run,
        name=lambda data: f"{data.object_type} {data.object_id}", events=events,
        prepared=prepared, outcomes=ENDS,
        simulated_by=(Role.SALES_MANAGER,), follows=object_type)
