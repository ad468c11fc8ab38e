"""Enrolling objects in a definition's active version, and telling running enrolments what
happened to their object.

An enrolment is recorded with its process start in one transaction and started after the
commit, like every process (``crm.launcher``): a start Temporal missed stays pending and is
made by a retry or by ``crmflow processes repair``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from crm import launcher
from crm.errors import Conflict, Forbidden, NotFound, ServiceUnavailable
from crm.models import Enrolment, ProcessStart, User, WorkflowDefinition
from crm.models.base import utcnow
from crm.own import definitions, reading
from crm.policies import Policies
from crm.repo import own
from crm.settings import Settings
from crm.start_marks import StartMarks
from workflows.business_time import Calendar
from workflows.own import expressions
from workflows.own.contracts import EnrolmentInput, ObjectFields, typed, workflow_id
from workflows.own.definition import Definition, Trigger
from workflows.own.interpreter import OwnWorkflow
from workflows.registry import OWN_WORKFLOW

log = structlog.get_logger(__name__)


@dataclass
class Enrolled:
    enrolment: Enrolment
    start: ProcessStart


async def enrol(*, session: AsyncSession, row: WorkflowDefinition, object_ids: list[int],
                policies: Policies, by: User | None) -> list[Enrolled]:
    """Enrol each object in the active version (the caller commits, then launches).

    Refused, changing nothing, when the definition is not active, when ``by`` holds none of
    its enrol roles, when an object does not exist, does not meet the enrolment condition,
    or is enrolled already (unless the definition allows re-enrolment once it ended)."""
    if row.status != "active" or row.active_version is None:
        raise Conflict(f"workflow definition {row.id} is {row.status}: only an active "
                       f"definition enrols")
    definition = await definitions.active(session=session, row=row)
    assert definition is not None
    if by is not None and by.role not in definition.roles.enrol:
        raise Forbidden(f"workflow definition {row.id} enrols on the word of "
                        f"{', '.join(definition.roles.enrol)}; you are {by.role}")
    limit = policies.own_workflows.max_enrolments
    if len(object_ids) > limit:
        raise Conflict(f"{len(object_ids)} objects: one request enrols at most {limit}")
    if len(set(object_ids)) != len(object_ids):
        raise Conflict("an object is named twice")
    calendars = reading.calendars(policies, utcnow().year)  # once: holidays take a while
    enrolled = []
    for object_id in object_ids:
        await _eligible(session, row, definition, object_id)
        enrolled.append(await _record(session, row, definition, object_id, calendars, by))
    return enrolled


async def _eligible(session: AsyncSession, row: WorkflowDefinition, definition: Definition,
                    object_id: int) -> None:
    values = typed(row.object_type, ObjectFields(await own.fields(
        session=session, object_type=row.object_type, object_id=object_id)))
    condition = definition.trigger.condition
    if condition and not expressions.holds(expressions.parse(condition), values, utcnow()):
        raise Conflict(f"{row.object_type} {object_id} does not meet the enrolment "
                       f"condition of workflow definition {row.id}: {condition}")
    earlier = await session.scalar(select(Enrolment).where(
        Enrolment.definition_id == row.id, Enrolment.object_type == row.object_type,
        Enrolment.object_id == object_id).order_by(Enrolment.id.desc()).limit(1))
    if earlier is not None and (earlier.status == "running" or not definition.re_enrol):
        raise Conflict(f"{row.object_type} {object_id} is enrolled in workflow definition "
                       f"{row.id} already (enrolment {earlier.id}, {earlier.status})"
                       + ("" if earlier.status == "running" else
                          "; this definition enrols an object once"))


async def _record(session: AsyncSession, row: WorkflowDefinition, definition: Definition,
                  object_id: int, calendars: dict[str, Calendar], by: User | None) -> Enrolled:
    assert row.active_version is not None
    enrolment = Enrolment(definition_id=row.id, version=row.active_version,
                          object_type=row.object_type, object_id=object_id,
                          workflow_id=workflow_id(row.id, row.object_type, object_id),
                          status="running", enrolled_by_id=by.id if by else None)
    session.add(enrolment)
    await session.flush()
    data = EnrolmentInput(enrolment.id, row.id, row.active_version, definition,
                          row.object_type, object_id,
                          calendars=calendars,
                          enrolled_by=by.id if by else None)
    start = await launcher.record_start(session, OWN_WORKFLOW, enrolment.id, data)
    return Enrolled(enrolment, start)


async def launch(session: AsyncSession, client: Client, settings: Settings,
                 enrolled: list[Enrolled], marks: StartMarks | None = None,
                 ) -> list[WorkflowHandle[Any, Any]]:
    """Start the recorded enrolments (after the commit); ``marks``: the API's batch of
    start marks, written a moment later instead of one commit per start."""
    return [await launcher.launch(session, client, settings, each.start, fresh=True,
                                  marks=marks) for each in enrolled]


async def automatic(*, session: AsyncSession, object_type: str, object_id: int,
                    when: str, policies: Policies, status: str | None = None,
                    event: str | None = None, field: str | None = None) -> list[Enrolled]:
    """Enrol the object in every active definition this happening triggers (``created``,
    ``status`` to ``status``, ``field_set`` of ``field``, ``event``) whose condition it
    meets; the caller commits with the happening and launches after."""
    enrolled = []
    for row in await definitions.listing(session=session, object_type=object_type,
                                         status="active"):
        definition = await definitions.active(session=session, row=row)
        trigger = definition.trigger if definition else None
        if trigger is None or trigger.when != when or not _names(trigger, status, event,
                                                                  field):
            continue
        try:
            await _eligible(session, row, definition, object_id)  # type: ignore[arg-type]
        except Conflict:
            continue
        enrolled.append(await _record(session, row, definition,  # type: ignore[arg-type]
                                      object_id, reading.calendars(policies, utcnow().year),
                                      None))
    return enrolled


def _names(trigger: Trigger, status: str | None, event: str | None,
           field: str | None) -> bool:
    """Whether a trigger of this kind names this happening's status, event or field."""
    named = {"status": (trigger.status, status), "event": (trigger.event, event),
             "field_set": (trigger.field, field)}.get(trigger.when)
    return named is None or named[0] == named[1]


async def scheduled(*, session: AsyncSession, row: WorkflowDefinition,
                    policies: Policies) -> list[Enrolled]:
    """A scheduled trigger's run: enrol every object of the definition's kind that meets
    its condition and is not enrolled (lowest ids first, at most the policy's
    ``max_enrolments``: the next run takes the rest); those enrolled are not read again.
    Nothing when the definition is no longer active with a scheduled trigger; the caller
    commits, then launches."""
    definition = await definitions.active(session=session, row=row) \
        if row.status == "active" else None
    if definition is None or definition.trigger.when != "schedule":
        return []
    model: Any = own.MODELS[row.object_type]
    calendars = reading.calendars(policies, utcnow().year)
    taken = select(Enrolment.object_id).where(
        Enrolment.definition_id == row.id, Enrolment.object_type == row.object_type)
    if definition.re_enrol:  # once ended, again
        taken = taken.where(Enrolment.status == "running")
    enrolled: list[Enrolled] = []
    for object_id in await session.scalars(
            select(model.id).where(model.id.not_in(taken)).order_by(model.id)):
        if len(enrolled) >= policies.own_workflows.max_enrolments:
            log.warning("a scheduled run enrolled as many as one may", definition_id=row.id)
            break
        try:
            await _eligible(session, row, definition, object_id)
        except Conflict:
            continue
        enrolled.append(await _record(session, row, definition, object_id, calendars, None))
    return enrolled


async def running_on(*, session: AsyncSession, object_type: str,
                     object_id: int) -> list[Enrolment]:
    return list(await session.scalars(select(Enrolment).where(
        Enrolment.object_type == object_type, Enrolment.object_id == object_id,
        Enrolment.status == "running").order_by(Enrolment.id)))


async def tell(*, session: AsyncSession, client: Client, settings: Settings,
               object_type: str, object_id: int, event: str | None = None) -> int:
    """Tell the object's running enrolments that it changed (and, with ``event``, what
    happened); how many were told. A start still pending is made first; one that ended
    meanwhile is skipped; Temporal down: ServiceUnavailable."""
    told = 0
    for enrolment in await running_on(session=session, object_type=object_type,
                                      object_id=object_id):
        await launcher.resume(session, client, settings, enrolment.workflow_id)
        handle = client.get_workflow_handle(enrolment.workflow_id)
        try:
            if event:
                await handle.signal(OwnWorkflow.event_happened, event)
            await handle.signal(OwnWorkflow.object_changed)
            told += 1
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise ServiceUnavailable(f"enrolment {enrolment.id} could not be told "
                                         f"(Temporal does not answer)") from error
            log.info("enrolment ended before it was told", workflow_id=enrolment.workflow_id)
    return told


async def after_change(session: AsyncSession, client: Client, settings: Settings,
                       object_type: str, object_id: int, enrolled: list[Enrolled],
                       marks: StartMarks | None = None, event: str | None = None) -> None:
    """Once a change to an object is committed: start the enrolments it triggered and tell
    the object's running ones (what happened, with ``event``). Temporal away does not undo
    the change: the starts stay pending (made by a retry or ``crmflow processes repair``),
    and it is logged."""
    try:
        await launch(session, client, settings, enrolled, marks)
        await tell(session=session, client=client, settings=settings,
                   object_type=object_type, object_id=object_id, event=event)
    except ServiceUnavailable as error:
        log.warning("a change's enrolments could not be told", object_type=object_type,
                    object_id=object_id, error=str(error))


async def get(*, session: AsyncSession, enrolment_id: int) -> Enrolment:
    found = await session.get(Enrolment, enrolment_id)
    if found is None:
        raise NotFound("enrolment", enrolment_id)
    return found


def summary(enrolment: Enrolment) -> dict[str, Any]:
    return {"id": enrolment.id, "definition_id": enrolment.definition_id,
            "version": enrolment.version, "object_type": enrolment.object_type,
            "object_id": enrolment.object_id, "process_id": enrolment.workflow_id,
            "status": enrolment.status, "step": enrolment.step, "outcome": enrolment.outcome,
            "enrolled_by_id": enrolment.enrolled_by_id, "created_at": enrolment.created_at,
            "ended_at": enrolment.ended_at}
