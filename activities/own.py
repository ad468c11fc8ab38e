"""The activities of your own workflows: read the enrolled object, find the person a step
is for, see whether a task is still open, record where the enrolment stands. Emails and
tasks use the shared activities."""

from __future__ import annotations

from temporalio import activity

from crm import db
from crm.repo import own, tasks
from workflows.contracts import Person
from workflows.own.contracts import (
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
    def __init__(self, sessions: db.Sessions) -> None:
        self.sessions = sessions

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
