"""The activities of your own workflows: read the enrolled object, find the person a step
is for, see whether a task is still open, record where the enrolment stands, enrol what a
scheduled trigger's run finds, and the steps that change the CRM (a status asked of the
object's process, a field, a ticket opened: ``crm.own.steps``). Emails and tasks use the
shared activities."""

from __future__ import annotations

from temporalio import activity

from activities.crm_db import Enrolling
from crm import db, launcher
from crm.own import definitions, enrolments, steps
from crm.repo import own, starts, tasks
from workflows.contracts import Person
from workflows.own.contracts import (
    ENROL_SCHEDULED,
    FIND_PERSON,
    OPEN_TICKET,
    READ_OBJECT,
    RECORD_ENROLMENT,
    SET_FIELD,
    SET_STATUS,
    TASK_OPEN,
    EnrolmentProgress,
    FieldToSet,
    ObjectFields,
    ObjectToRead,
    PersonToFind,
    StatusToSet,
    StepDone,
    TicketToOpen,
)


class OwnWorkflowActivities:
    def __init__(self, sessions: db.Sessions, enrolling: Enrolling | None = None) -> None:
        self.sessions = sessions
        self.enrolling = enrolling
        """The Temporal client a scheduled run starts the enrolments it records with, and
        the steps that ask other processes or start them."""

    def _outside(self) -> Enrolling:
        assert self.enrolling is not None, "the worker gives these activities a client"
        return self.enrolling

    @activity.defn(name=SET_STATUS)
    async def set_status(self, change: StatusToSet) -> StepDone:
        outside = self._outside()
        async with self.sessions() as session:
            return await steps.set_status(session, outside.client, outside.settings, change)

    @activity.defn(name=SET_FIELD)
    async def set_field(self, change: FieldToSet) -> StepDone:
        outside = self._outside()
        async with self.sessions() as session:
            return await steps.set_field(session, outside.client, outside.settings,
                                         outside.policies.current(), change)

    @activity.defn(name=OPEN_TICKET)
    async def open_ticket(self, opening: TicketToOpen) -> StepDone:
        outside = self._outside()
        async with self.sessions() as session:
            return await steps.open_ticket(session, outside.client, outside.settings,
                                           outside.policies.current(), opening)

    @activity.defn(name=ENROL_SCHEDULED)
    async def enrol_scheduled(self, definition_id: int) -> int:
        """Enrol what meets the definition's condition now (recorded, committed, then
        started; what an earlier attempt recorded but did not start is started first)."""
        client, settings = self._outside().client, self._outside().settings
        async with self.sessions() as session:
            prefix = f"definition-{definition_id}-"
            for start in await starts.pending(session=session):
                if start.workflow_id.startswith(prefix):
                    await launcher.launch(session, client, settings, start)
            row = await definitions.get(session=session, definition_id=definition_id)
            made = await enrolments.scheduled(session=session, row=row,
                                              policies=self._outside().policies.current())
            await session.commit()
            await enrolments.launch(session, client, settings, made)
        return len(made)

    @activity.defn(name=READ_OBJECT)
    async def read_object(self, wanted: ObjectToRead) -> ObjectFields:
        async with db.unit_of_work(self.sessions) as session:
            return ObjectFields(await own.fields(session=session,
                                                 object_type=wanted.object_type,
                                                 object_id=wanted.object_id))

    @activity.defn(name=FIND_PERSON)
    async def find_person(self, wanted: PersonToFind) -> Person | None:
        async with db.unit_of_work(self.sessions) as session:
            user = await own.person_for(session=session, object_type=wanted.object_type,
                                        object_id=wanted.object_id, rule=wanted.rule,
                                        role=wanted.role)
            return Person(user.id, user.name, user.email) if user else None

    @activity.defn(name=TASK_OPEN)
    async def task_open(self, task_id: int) -> bool:
        async with db.unit_of_work(self.sessions) as session:
            return (await tasks.get_task(session=session, task_id=task_id)).status == "open"

    @activity.defn(name=RECORD_ENROLMENT)
    async def record_enrolment(self, progress: EnrolmentProgress) -> None:
        async with db.unit_of_work(self.sessions) as session:
            await own.record_progress(session=session, enrolment_id=progress.enrolment_id,
                                      step=progress.step, visit=progress.visit,
                                      status=progress.status, note=progress.note)
