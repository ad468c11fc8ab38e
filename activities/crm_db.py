"""CRM database activities: short writes, each an activity the process schedules
(``workflows.steps.write``), and the reads it runs as local activities.

Each is idempotent: the status history and tasks are keyed by the workflow, the rep
assignment and the opportunity are no-ops once done, a quote makes at most one sale.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from temporalio import activity
from temporalio.client import Client

from crm import db
from crm.models import User
from crm.own import enrolments
from crm.policies import PolicyStore
from crm.repo import history, leads, people, quotes, tasks
from crm.settings import Settings
from workflows.contracts import (
    ASSIGN_SALES_REP,
    CREATE_SALE,
    CREATE_TASK,
    FIND_PEOPLE,
    OPEN_OPPORTUNITY,
    RECORD_STATUS,
    CreatedSale,
    CreatedTask,
    OpenedOpportunity,
    OpportunityToOpen,
    PeopleToFind,
    Person,
    RepToAssign,
    SaleToCreate,
    StatusToRecord,
    TaskToCreate,
)
from workflows.own.objects import OBJECTS
from workflows.roles import Role


def _person(user: User) -> Person:
    return Person(user.id, user.name, user.email)


@dataclass
class Enrolling:
    """What a status change needs to enrol its object in the workflows it triggers and to
    tell the object's enrolments (your own workflows)."""

    client: Client
    settings: Settings
    policies: PolicyStore


class CrmActivities:
    def __init__(self, sessions: db.Sessions, enrolling: Enrolling | None = None) -> None:
        self.sessions = sessions
        self.enrolling = enrolling

    @activity.defn(name=RECORD_STATUS)
    async def record_status(self, change: StatusToRecord) -> datetime:
        """Move a business object to a new status and write who, when and why; answers when
        Temporal scheduled the write (a time the process's history keeps)."""
        info = activity.info()
        workflow_id = info.workflow_id or ""
        enrolled: list[enrolments.Enrolled] = []
        async with db.unit_of_work(self.sessions) as session:
            await history.change_status(
                session=session,
                object_type=change.object_type,
                object_id=change.object_id,
                to_status=change.to_status,
                reason=change.reason,
                actor=f"user:{change.actor_user_id}" if change.actor_user_id else workflow_id,
                actor_user_id=change.actor_user_id,
                workflow_id=workflow_id,
                idempotency_key=(
                    f"{workflow_id}:status:{change.event}" if change.event
                    else f"{workflow_id}/{info.workflow_run_id}/{info.activity_id}"
                ),
                holds_until=change.holds_until,
            )
            if self.enrolling is not None and change.object_type in OBJECTS:
                enrolled = await enrolments.automatic(
                    session=session, object_type=change.object_type,
                    object_id=change.object_id, when="status", status=change.to_status,
                    policies=self.enrolling.policies.current())
        if self.enrolling is not None:
            await self._tell(change, enrolled)
        return info.scheduled_time

    async def _tell(self, change: StatusToRecord, enrolled: list[enrolments.Enrolled]) -> None:
        """After the commit: start the enrolments the change triggered, and tell the
        object's running ones it changed (a retry tells them again: harmless)."""
        assert self.enrolling is not None
        async with self.sessions() as session:
            await enrolments.launch(session, self.enrolling.client, self.enrolling.settings,
                                    enrolled)
            await enrolments.tell(session=session, client=self.enrolling.client,
                                  settings=self.enrolling.settings,
                                  object_type=change.object_type, object_id=change.object_id)

    @activity.defn(name=CREATE_TASK)
    async def create_task(self, task: TaskToCreate) -> CreatedTask:
        info = activity.info()
        async with db.unit_of_work(self.sessions) as session:
            row = await tasks.create_task(
                session=session,
                kind=task.kind,
                title=task.title,
                description=task.description,
                assignee_id=task.assignee_id,
                due_at=task.due_at,
                related_type=task.related_type,
                related_id=task.related_id,
                workflow_id=info.workflow_id,
                idempotency_key=f"{info.workflow_id}:{task.purpose}",
            )
            return CreatedTask(row.id, row.assignee_id)

    @activity.defn(name=FIND_PEOPLE)
    async def find_people(self, wanted: PeopleToFind) -> list[Person]:
        async with db.unit_of_work(self.sessions) as session:
            users = await people.active_users(
                session=session, roles=[Role(r) for r in wanted.roles], team_id=wanted.team_id
            )
            return [_person(u) for u in users if u.id != wanted.excluding_user_id]

    @activity.defn(name=ASSIGN_SALES_REP)
    async def assign_sales_rep(self, request: RepToAssign) -> Person | None:
        async with db.unit_of_work(self.sessions) as session:
            rep = await leads.assign_sales_rep(
                session=session, lead_id=request.lead_id, rule=request.rule
            )
            return _person(rep) if rep else None

    @activity.defn(name=OPEN_OPPORTUNITY)
    async def open_opportunity(self, opportunity: OpportunityToOpen) -> OpenedOpportunity:
        async with db.unit_of_work(self.sessions) as session:
            lead = await leads.open_opportunity(
                session=session,
                lead_id=opportunity.lead_id,
                owner_id=opportunity.owner_id,
                need=opportunity.need,
                budget=opportunity.budget,
            )
            assert lead.account_id and lead.contact_id and lead.owner_id
            return OpenedOpportunity(lead.account_id, lead.contact_id, lead.owner_id)

    @activity.defn(name=CREATE_SALE)
    async def create_sale(self, request: SaleToCreate) -> CreatedSale:
        async with db.unit_of_work(self.sessions) as session:
            sale = await quotes.create_sale(session=session, quote_id=request.quote_id)
            return CreatedSale(sale.id, sale.amount)
