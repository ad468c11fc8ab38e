"""The activities a simulated run calls: the same names as the worker's, recording what the
process asked for instead of doing it. Nothing is written to the CRM and no email is sent;
the only reads are of who may act (the real people of the real team), through a session
that never commits.

What each run asked is kept by its workflow id, in order, with the simulated time it was
asked at (the time-skipping server's clock).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from temporalio import activity

from crm import db
from crm.models import StatusChange
from crm.repo import own, people
from simulation.cases import aware
from workflows.contracts import (
    CREATE_SALE,
    CREATE_TASK,
    FIND_PEOPLE,
    OPEN_DISPUTE_TICKET,
    RECORD_STATUS,
    SEND_EMAIL,
    START_PROJECT,
    CreatedSale,
    CreatedTask,
    DisputeToRaise,
    EmailOutcome,
    EmailToSend,
    PeopleToFind,
    Person,
    ProjectToStart,
    RaisedDispute,
    SaleToCreate,
    StartedProject,
    StatusToRecord,
    TaskToCreate,
)
from workflows.dunning_contracts import (
    RECORD_PAYMENT,
    UPDATE_INVOICE,
    InvoiceUpdate,
    PaymentToRecord,
)
from workflows.own.contracts import (
    CALL_WEBHOOK,
    FIND_PERSON,
    OPEN_TICKET,
    OWN_MESSAGE,
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
    WebhookAnswer,
    WebhookCall,
)
from workflows.roles import Role


@dataclass(frozen=True)
class Entry:
    """One thing a run asked for: a status, an email, a task, a sale, a project."""

    at: datetime
    kind: str
    """``status`` (of the object followed; ``lead status`` for another), ``email``,
    ``task``, ``sale``, ``project`` (``timer`` is read from the run's history)."""
    what: str
    """What it was: the status, the email's template and address, the task's title."""
    detail: str = ""


class Recorder:
    def __init__(self, sessions: db.Sessions, follows: str) -> None:
        self.sessions = sessions
        self.follows = follows
        """The object the simulated process follows: its statuses are ``status`` entries,
        another object's (a lead a won quote closes) ``<object> status``."""
        self.asked: dict[str, list[Entry]] = defaultdict(list)
        self.shifts: dict[str, timedelta] = {}
        """Each run's distance from its real case: what a read at a simulated moment reads
        is the object as it was at the real one."""
        self._next_id = 0

    def _keep(self, kind: str, what: str, detail: str = "") -> None:
        info = activity.info()
        self.asked[info.workflow_id or ""].append(Entry(info.scheduled_time, kind, what, detail))

    def _made(self) -> int:
        """An id for what a run made (a task, a sale): negative, so never a CRM row's."""
        self._next_id -= 1
        return self._next_id

    def activities(self) -> list[Callable[..., Any]]:
        return [self.record_status, self.send_email, self.create_task, self.find_people,
                self.create_sale, self.start_project, self.record_payment,
                self.update_invoice, self.open_dispute_ticket, self.read_object,
                self.find_person, self.record_enrolment, self.task_open, self.call_webhook,
                self.set_status, self.set_field, self.open_ticket]

    @activity.defn(name=RECORD_STATUS)
    async def record_status(self, change: StatusToRecord) -> datetime:
        kind = "status" if change.object_type == self.follows else \
            f"{change.object_type} status"
        self._keep(kind, change.to_status, change.reason)
        return activity.info().scheduled_time

    @activity.defn(name=SEND_EMAIL)
    async def send_email(self, email: EmailToSend) -> EmailOutcome:
        shown = str(email.context.get("subject", "")) if email.template == OWN_MESSAGE \
            else email.template  # a workflow of your own's email: by its subject
        self._keep("email", shown, email.to)
        return EmailOutcome("sent", f"<simulated-{-self._made()}@crmflow>")

    @activity.defn(name=CREATE_TASK)
    async def create_task(self, task: TaskToCreate) -> CreatedTask:
        self._keep("task", task.title, str(task.assignee_id or ""))
        return CreatedTask(self._made(), task.assignee_id)

    @activity.defn(name=FIND_PEOPLE)
    async def find_people(self, wanted: PeopleToFind) -> list[Person]:
        async with self.sessions() as session:  # read only: never committed
            users = await people.active_users(
                session=session, roles=[Role(r) for r in wanted.roles], team_id=wanted.team_id)
            return [Person(u.id, u.name, u.email) for u in users
                    if u.id != wanted.excluding_user_id]

    @activity.defn(name=CREATE_SALE)
    async def create_sale(self, sale: SaleToCreate) -> CreatedSale:
        self._keep("sale", f"quote {sale.quote_id}")
        return CreatedSale(self._made(), Decimal(0))

    @activity.defn(name=START_PROJECT)
    async def start_project(self, project: ProjectToStart) -> StartedProject:
        self._keep("project", f"sale {project.sale_id}")
        return StartedProject(f"simulated-project-{project.sale_id}")

    @activity.defn(name=RECORD_PAYMENT)
    async def record_payment(self, payment: PaymentToRecord) -> None:
        self._keep("payment", f"{payment.amount}", f"balance {payment.balance_after}")

    @activity.defn(name=UPDATE_INVOICE)
    async def update_invoice(self, update: InvoiceUpdate) -> datetime:
        return activity.info().scheduled_time

    @activity.defn(name=OPEN_DISPUTE_TICKET)
    async def open_dispute_ticket(self, dispute: DisputeToRaise) -> RaisedDispute:
        self._keep("ticket", "billing ticket about the dispute", dispute.reason)
        return RaisedDispute(ticket_id=self._made())

    # Your own workflows' activities.

    @activity.defn(name=READ_OBJECT)
    async def read_object(self, wanted: ObjectToRead) -> ObjectFields:
        """The object's fields now, and its status as it was at the real moment."""
        info = activity.info()
        real = info.scheduled_time - self.shifts.get(info.workflow_id or "", timedelta(0))
        async with self.sessions() as session:
            fields = await own.fields(session=session, object_type=wanted.object_type,
                                      object_id=wanted.object_id)
            changes = list(await session.scalars(select(StatusChange).where(
                StatusChange.object_type == wanted.object_type,
                StatusChange.object_id == wanted.object_id).order_by(StatusChange.changed_at,
                                                                      StatusChange.id)))
        before = [c for c in changes if aware(c.changed_at) <= real]
        after = [c for c in changes if aware(c.changed_at) > real]
        if before:
            fields["status"] = before[-1].to_status
        elif after and after[0].from_status:
            fields["status"] = after[0].from_status
        return ObjectFields(fields)

    @activity.defn(name=FIND_PERSON)
    async def find_person(self, wanted: PersonToFind) -> Person | None:
        async with self.sessions() as session:  # read only: a round-robin turn is not kept
            user = await own.person_for(session=session, object_type=wanted.object_type,
                                        object_id=wanted.object_id, rule=wanted.rule,
                                        role=wanted.role)
            return Person(user.id, user.name, user.email) if user else None

    @activity.defn(name=RECORD_ENROLMENT)
    async def record_enrolment(self, progress: EnrolmentProgress) -> None:
        if progress.status == "running":
            self._keep("step", progress.step or "", progress.note)
        else:
            self._keep("status", progress.status, progress.note)

    @activity.defn(name=TASK_OPEN)
    async def task_open(self, task_id: int) -> bool:
        return True  # nobody completes a simulated task

    @activity.defn(name=CALL_WEBHOOK)
    async def call_webhook(self, call: WebhookCall) -> WebhookAnswer:
        self._keep("webhook", call.url, "not called: a simulation calls no outside system")
        return WebhookAnswer(0)

    @activity.defn(name=SET_STATUS)
    async def set_status(self, change: StatusToSet) -> StepDone:
        self._keep("status asked", change.status, change.reason)
        return StepDone(True, f"{change.status} asked of the process (simulated)")

    @activity.defn(name=SET_FIELD)
    async def set_field(self, change: FieldToSet) -> StepDone:
        self._keep("field", change.field, repr(change.value))
        return StepDone(True, f"{change.field} set (simulated)")

    @activity.defn(name=OPEN_TICKET)
    async def open_ticket(self, opening: TicketToOpen) -> StepDone:
        self._keep("ticket", opening.subject, opening.priority)
        return StepDone(True, "ticket opened (simulated)", ticket_id=self._made())

