"""The activities of your own workflows: read the enrolled object, find the person a step
is for, see whether a task is still open, record where the enrolment stands, enrol what a
scheduled trigger's run finds. Emails and
tasks use the shared activities."""

from __future__ import annotations

from temporalio import activity

from activities.crm_db import Enrolling
from crm import db, launcher
from crm.own import definitions, enrolments
from crm.repo import own, starts, tasks
from workflows.contracts import Person
from workflows.own.contracts import (
    ENROL_SCHEDULED,
    FIND_PERSON,
    READ_OBJECT,
    RECORD_ENROLMENT,
    TASK_OPEN,
    EnrolmentProgress,
    ObjectFields,
    ObjectToRead,
    PersonToFind,
)


class OwnWorkflowActivities:
    def __init__(self, sessions: db.Sessions, enrolling: Enrolling | None = None) -> None:
        self.sessions = sessions
        self.enrolling = enrolling
        """The Temporal client a scheduled run starts the enrolments it records with."""

    @activity.defn(name=ENROL_SCHEDULED)
    async def enrol_scheduled(self, definition_id: int) -> int:
        """Enrol what meets the definition's condition now (recorded, committed, then
        started; what an earlier attempt recorded but did not start is started first)."""
        assert self.enrolling is not None
        client, settings = self.enrolling.client, self.enrolling.settings
        async with self.sessions() as session:
            prefix = f"definition-{definition_id}-"
            for start in await starts.pending(session=session):
                if start.workflow_id.startswith(prefix):
                    await launcher.launch(session, client, settings, start)
            row = await definitions.get(session=session, definition_id=definition_id)
            made = await enrolments.scheduled(session=session, row=row,
                                              policies=self.enrolling.policies.current())
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
