"""Run one enrolment in a workflow of your own: the steps of the published version it was
enrolled in, on one object (workflow id ``definition-{id}-{object}-{object_id}``).

Like Temporal's DSL sample, with crmflow's steps: every CRM write is an activity Temporal
schedules, emails go through the outbox, tasks are created once per step and visit, every
wait is a timer of the :class:`~workflows.steps.Timeline`, and each activity and timer
carries a summary in the definition's own words, so the Temporal UI tells its story.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from workflows import business_time, steps
from workflows.contracts import (
    FIND_PEOPLE,
    EmailToSend,
    PeopleToFind,
    Person,
    StartOptions,
    TaskToCreate,
)
from workflows.own import expressions
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
    WEBHOOK_REFUSED,
    EnrolmentInput,
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
    answered,
    typed,
)
from workflows.own.definition import Definition, Step, fill
from workflows.own.objects import OBJECTS
from workflows.refusals import MISSING_INFORMATION, NOT_ALLOWED, WRONG_STATUS, refuse
from workflows.roles import Role


@dataclass
class Cancellation:
    by_user_id: int
    reason: str


@dataclass
class ApprovalDecision:
    """A person approves or rejects what an approval step asks (a rejection says why)."""

    by_user_id: int
    by_role: str
    by_team_id: int | None
    approve: bool
    comment: str = ""
    by_name: str = ""


@dataclass
class Approval:
    """The approval an enrolment is asking for, or last asked for."""

    step: str
    role: str
    approvers: list[int]
    due: datetime
    author_id: int | None = None
    team_id: int | None = None
    escalated: bool = False
    decision: str = ""
    """Empty while it waits; then ``approved`` or ``rejected``."""
    decided_by: int | None = None
    """Who decided; None when the timeout rule did."""
    decided_by_name: str = ""
    comment: str = ""


@dataclass
class EnrolmentView:
    status: str
    step: str | None
    visits: dict[str, int] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)
    outcome: str = ""
    approval: Approval | None = None


class _GoalReached(Exception):
    pass


WEBHOOK_CALL = timedelta(seconds=30)
WEBHOOK_RETRIES = RetryPolicy(initial_interval=timedelta(seconds=2), backoff_coefficient=3,
                              maximum_interval=timedelta(minutes=2), maximum_attempts=6,
                              non_retryable_error_types=[WEBHOOK_REFUSED])
"""Six attempts over about four minutes; a refusal (host not allowed, 4xx) is not retried."""
CRM_STEP = timedelta(minutes=1)
"""How long one attempt of a step that asks another process may take (its update runs that
process's own writes)."""
CRM_STEPS = ("set_status", "set_field", "start_process")


class _Cancelled(Exception):
    pass


def start_options(data: EnrolmentInput) -> StartOptions:
    kind = OBJECTS[data.object_type]
    return StartOptions(
        summary=f"{data.definition.name} — {data.object_type} {data.object_id}",
        details=(f"Enrolment {data.enrolment_id} in workflow definition {data.definition_id} "
                 f"version {data.version}; follows {kind.name} {data.object_id}"),
        status="running",
    )


@workflow.defn(name="OwnWorkflow")
class OwnWorkflow:
    """Walk the definition's steps from the first until an ``end`` step, the last step, the
    goal, or a cancellation. The object's fields are read when a condition needs them and
    again after the object changed (``object_changed``); events (``event_happened``) end a
    ``wait_for`` on them and reach the goal when it is one."""

    @workflow.init
    def __init__(self, data: EnrolmentInput) -> None:
        self.data = data
        self.definition: Definition = data.definition
        self.timeline = steps.Timeline()
        self.view = EnrolmentView(status="running", step=None)
        self._fields: dict[str, Any] | None = None
        self._answers: dict[str, Any] = {}
        """What the webhooks called so far answered (``step.status``, ``step.field``) and
        the approvals decided (``step.approved``, ``step.by_rule``, ``step.comment``)."""
        self._stale = True
        self._events: list[str] = []
        self._heard = 0
        """Events before this index were heard by an earlier wait: a ``wait_for`` counts the
        events since the last wait ended (those that came while the steps between ran,
        an answer to the email just sent, included)."""
        self._cancelled: Cancellation | None = None
        self._end_recorded = False
        self._decision_recorded = False
        self._reminding: list[asyncio.Task[None]] = []
        """The reminders of open tasks, going out while the enrolment runs."""
        self._entered_at = workflow.info().workflow_start_time
        """When the current step was entered, which its waits and due times count from: the
        timeline's time, or later when an event or a change ended the step before (as the
        built-in processes' pauses count from the moment they begin)."""

    @workflow.run
    async def run(self, data: EnrolmentInput) -> EnrolmentView:
        index: int | None = 0
        try:
            while index is not None:
                await self._check_goal()
                step = self.definition.steps[index]
                visit = self.view.visits.get(step.id, 0) + 1
                self.view.visits[step.id] = visit
                self.view.step = step.id
                self._entered_at = max(self.timeline.now(), workflow.now())
                await self._record(step.id, visit, "running", "")
                index = await self._run(step, visit, index)
            self.view.status = "completed"
        except _GoalReached:
            self.view.status, self.view.outcome = "goal_reached", "goal reached"
        except _Cancelled:
            assert self._cancelled is not None
            self.view.status = "cancelled"
            self.view.outcome = self._cancelled.reason
        for reminders in self._reminding:  # the enrolment ended: its tasks' reminders too
            reminders.cancel()
        await asyncio.gather(*self._reminding, return_exceptions=True)
        await self._record(self.view.step, self.view.visits.get(self.view.step or "", 0),
                           self.view.status, self.view.outcome)
        self._end_recorded = True
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.view

    @workflow.signal
    def object_changed(self) -> None:
        """The object's fields may have changed: read them again before the next decision."""
        self._stale = True

    @workflow.signal
    def event_happened(self, event: str) -> None:
        self._events.append(event)
        self.view.events.append(event)

    @workflow.update
    async def cancel(self, cancellation: Cancellation) -> EnrolmentView:
        """Stop where it is; answers once the end is recorded in the CRM."""
        self._cancelled = cancellation
        await workflow.wait_condition(lambda: self._end_recorded)
        return self.view

    @cancel.validator
    def _may_cancel(self, cancellation: Cancellation) -> None:
        if self.view.status != "running" or self._cancelled:
            refuse(WRONG_STATUS, f"enrolment {self.data.enrolment_id} is "
                                 f"{'cancelled' if self._cancelled else self.view.status}: "
                                 f"only a running enrolment can be cancelled")

    @workflow.update
    async def decide(self, decision: ApprovalDecision) -> EnrolmentView:
        """Approve or reject the approval the enrolment is waiting for; answers once the
        decision is recorded in the CRM."""
        approval = self.view.approval
        assert approval is not None
        if approval.decision:  # the timeout rule came first, in the same moment
            refuse(WRONG_STATUS, f"step {approval.step} was {approval.decision} by its "
                                 f"timeout rule before this decision")
        approval.decision = "approved" if decision.approve else "rejected"
        approval.decided_by, approval.comment = decision.by_user_id, decision.comment
        approval.decided_by_name = decision.by_name or f"user {decision.by_user_id}"
        await workflow.wait_condition(lambda: self._decision_recorded or
                                      self.view.status != "running")
        return self.view

    @decide.validator
    def _may_decide(self, decision: ApprovalDecision) -> None:
        approval = self.view.approval
        if self.view.status != "running" or approval is None or approval.decision:
            refuse(WRONG_STATUS, f"enrolment {self.data.enrolment_id} is not waiting for "
                                 f"an approval")
        if decision.by_user_id == approval.author_id:
            refuse(NOT_ALLOWED, f"the author of {self.data.object_type} "
                                f"{self.data.object_id} cannot approve or reject it")
        role = Role.ADMIN if approval.escalated else approval.role
        if decision.by_role != Role.ADMIN:
            if decision.by_role != role and decision.by_role not in self.definition.roles.act:
                refuse(NOT_ALLOWED, f"step {approval.step} is decided by "
                                    f"{str(role).replace('_', ' ')}s"
                                    f"{'' if role == Role.ADMIN else ' and admins'}")
            if approval.team_id is not None and decision.by_team_id != approval.team_id:
                refuse(NOT_ALLOWED, f"only someone of the {self.data.object_type}'s team "
                                    f"decides on it")
        if not decision.approve and not decision.comment.strip():
            refuse(MISSING_INFORMATION, "a rejection needs a comment", missing=["comment"])

    @workflow.query
    def current(self) -> EnrolmentView:
        return self.view

    # The steps.

    async def _run(self, step: Step, visit: int, index: int) -> int | None:
        following = index + 1 if index + 1 < len(self.definition.steps) else None
        onward = self._index(step.next) if step.next else following
        kind = step.kind
        if kind == "send_email":
            await self._send_email(step, visit)
        elif kind == "notify":
            await self._notify(step, visit)
        elif kind == "task":
            await self._task(step, visit)
        elif kind == "approval":
            if not await self._approval(step, visit):
                if step.on_reject:
                    return self._index(step.on_reject)
                self.view.outcome = f"rejected at step {step.id}"
                return None
        elif kind == "webhook":
            await self._webhook(step, visit)
        elif kind in CRM_STEPS:
            outcome = await self._crm_step(step, visit)
            if not outcome.done:
                if step.on_refused:
                    return self._index(step.on_refused)
                self.view.outcome = f"refused at step {step.id}: {outcome.note}"
                return None
        elif kind == "wait":
            await self._wait(step)
        elif kind == "wait_for":
            if not await self._wait_for(step):
                return self._index(step.on_timeout) if step.on_timeout else onward
        elif kind == "branch":
            assert step.condition and step.then
            if await self._holds(step.condition):
                return self._index(step.then)
            return self._index(step.otherwise) if step.otherwise else onward
        elif kind == "go_to":
            assert step.target and step.times
            if visit <= step.times:
                return self._index(step.target)
        elif kind == "end":
            self.view.outcome = step.outcome or ""
            return None
        return onward

    async def _send_email(self, step: Step, visit: int) -> None:
        values = await self._values()
        address = values.get(f"{self.data.object_type}.{OBJECTS[self.data.object_type].email}")
        if not address:
            self.view.outcome = f"step {step.id}: the {self.data.object_type} has no email"
            return
        await self._email(step, visit, str(address), values)

    async def _notify(self, step: Step, visit: int) -> None:
        person = await self._person(step.to or "owner", None, step)
        if person is not None:
            await self._email(step, visit, person.email, await self._values())

    async def _email(self, step: Step, visit: int, to: str, values: dict[str, Any]) -> None:
        assert step.template
        template = self.definition.templates[step.template]
        subject, body = fill(template.subject, values), fill(template.body, values)
        await steps.send_email(
            EmailToSend(to=to, template=OWN_MESSAGE, purpose=f"{step.id}:{visit}",
                        context={"subject": subject, "body": body},
                        related_type=self.data.object_type, related_id=self.data.object_id),
            summary=f"{step.id}: email “{subject}” to {to}",
        )

    async def _task(self, step: Step, visit: int) -> None:
        assert step.title
        person = await self._person(step.assign or "owner", step.role, step)
        title = fill(step.title, await self._values())
        due_at = self._entered_at + step.due if step.due else None
        task = await steps.create_task(TaskToCreate(
            kind="workflow_step", title=title, purpose=f"{step.id}:{visit}",
            assignee_id=person.user_id if person else None, due_at=due_at,
            description=f"{self.definition.name}, step {step.id}",
            related_type=self.data.object_type, related_id=self.data.object_id,
        ))
        if step.remind_every and person is not None:
            self._reminding.append(asyncio.create_task(
                self._remind(step, visit, task.task_id, title, person)))

    async def _remind(self, step: Step, visit: int, task_id: int, title: str,
                      person: Person) -> None:
        """Remind the task's person every ``remind_every`` while it is open (and the
        enrolment runs: the steps go on meanwhile)."""
        assert step.remind_every
        reminder = 0
        while True:
            await workflow.sleep(step.remind_every,
                                 summary=f"{step.id}: remind {person.name} in "
                                         f"{steps.describe(step.remind_every)}")
            still_open = await workflow.execute_local_activity(
                TASK_OPEN, task_id, result_type=bool,
                start_to_close_timeout=steps.DATABASE_READ,
                retry_policy=steps.RETRY_FOREVER_GENTLY,
                summary=f"{step.id}: is task {task_id} still open?")
            if not still_open:
                return
            reminder += 1
            await steps.send_email(
                EmailToSend(to=person.email, template=OWN_MESSAGE,
                            purpose=f"{step.id}:{visit}:reminder:{reminder}",
                            context={"subject": f"Reminder {reminder}: {title}",
                                     "body": f"The task “{title}” ({self.definition.name}, "
                                             f"step {step.id}) is still open."},
                            related_type=self.data.object_type,
                            related_id=self.data.object_id),
                summary=f"{step.id}: reminder {reminder} to {person.name}")

    async def _approval(self, step: Step, visit: int) -> bool:
        """Ask the approvers, remind them, apply the timeout rule; True when approved."""
        assert step.role and step.timeout
        values = await self._values()
        kind = OBJECTS[self.data.object_type]
        author, team = (_id(values.get(f"{self.data.object_type}.{name}")) if name else None
                        for name in (kind.owner, kind.team))
        approval = Approval(step.id, step.role, [], self._entered_at + step.timeout,
                            author_id=author, team_id=team if step.role != Role.ADMIN else None)
        self.view.approval, self._decision_recorded = approval, False
        approvers = await self._approvers(step.role, approval)
        if not approvers:  # nobody of the role in the team: the admins decide
            approval.team_id = None
            approvers = await self._approvers(Role.ADMIN, approval)
        decided = await self._await_decision(step, visit, approvers, self._entered_at)
        rule = step.timeout_rule or "reject"
        if not decided and rule == "escalate":
            approval.escalated, approval.team_id = True, None
            approval.due = self.timeline.now() + step.timeout
            admins = await self._approvers(Role.ADMIN, approval)
            decided = await self._await_decision(step, visit, admins, self.timeline.now())
        if not approval.decision:
            approval.decision = "approved" if rule == "approve" and not approval.escalated \
                else "rejected"
            approval.comment = (f"nobody decided within {steps.describe(step.timeout)}"
                                f"{' after escalation' if approval.escalated else ''}: "
                                f"{approval.decision} by rule")
        self._answers.update({f"{step.id}.approved": approval.decision == "approved",
                              f"{step.id}.by_rule": approval.decided_by is None,
                              f"{step.id}.comment": approval.comment})
        await self._record(step.id, visit, "running", self._decision_note(approval))
        self._decision_recorded = True
        return approval.decision == "approved"

    async def _approvers(self, role: str, approval: Approval) -> list[Person]:
        approval.role = role
        people = await workflow.execute_local_activity(
            FIND_PEOPLE,
            PeopleToFind([role], approval.team_id, excluding_user_id=approval.author_id),
            result_type=list[Person], start_to_close_timeout=steps.DATABASE_READ,
            retry_policy=steps.RETRY_FOREVER_GENTLY,
            summary=f"{approval.step}: find the {role.replace('_', ' ')}s who may approve")
        approval.approvers = [p.user_id for p in people]
        return people

    async def _await_decision(self, step: Step, visit: int, approvers: list[Person],
                              start: datetime) -> bool:
        """Ask, then remind every ``remind_every`` until a decision or the timeout."""
        assert step.timeout
        approval = self.view.approval
        assert approval is not None
        stage = "escalated" if approval.escalated else "asked"
        deadline, reminder = start + step.timeout, 0
        while True:
            await self._ask(step, visit, approvers, stage, reminder)
            at = min(start + (reminder + 1) * step.remind_every, deadline) \
                if step.remind_every else deadline
            left = steps.describe(deadline - start)
            if await self._until(at, f"{step.id}: wait for the {approval.role.replace('_', ' ')}"
                                     f"s' decision ({left})", lambda: bool(approval.decision)):
                return True
            if at >= deadline:
                return False
            reminder += 1

    async def _ask(self, step: Step, visit: int, approvers: list[Person], stage: str,
                   reminder: int) -> None:
        assert step.template
        template = self.definition.templates[step.template]
        values = await self._values()
        prefix = f"Reminder {reminder}: " if reminder else (
            "Escalated: " if stage == "escalated" else "")
        subject, body = prefix + fill(template.subject, values), fill(template.body, values)
        for person in approvers:
            await steps.send_email(
                EmailToSend(to=person.email, template=OWN_MESSAGE,
                            purpose=f"{step.id}:{visit}:{stage}:{reminder}:{person.user_id}",
                            context={"subject": subject, "body": body},
                            related_type=self.data.object_type,
                            related_id=self.data.object_id),
                summary=(f"{step.id}: reminder {reminder} to {person.name}" if reminder else
                         f"{step.id}: ask {person.name} to approve"))

    @staticmethod
    def _decision_note(approval: Approval) -> str:
        if approval.decided_by is None:
            return approval.comment
        said = f": {approval.comment}" if approval.comment else ""
        return f"{approval.decision} by {approval.decided_by_name}{said}"

    async def _webhook(self, step: Step, visit: int) -> None:
        """Call it (retried a few times over some minutes); what it answers, or status 0 when
        it never answered or was refused, is for the steps after it to read."""
        assert step.url
        call = WebhookCall(step.url, f"{workflow.info().workflow_id}:{step.id}:{visit}",
                           self.definition.name, step.id, self.data.object_type,
                           self.data.object_id, dict(step.answer or {}))
        try:
            answer = await workflow.execute_activity(
                CALL_WEBHOOK, call, result_type=WebhookAnswer,
                start_to_close_timeout=WEBHOOK_CALL, retry_policy=WEBHOOK_RETRIES,
                summary=f"{step.id}: call the webhook {step.url}"[:200])
        except ActivityError:
            answer = WebhookAnswer(0)
        self._answers.update(answered(step.id, answer, step.answer or {}))

    async def _crm_step(self, step: Step, visit: int) -> StepDone:
        """Set a status (asked of the object's process), set a field or open a ticket; the
        note of what it did, or why it was refused, is kept in the enrolment's history."""
        key = f"{workflow.info().workflow_id}:{step.id}:{visit}"
        values = await self._values()
        kind, ident = self.data.object_type, (self.data.enrolment_id, self.data.object_type,
                                              self.data.object_id)
        argument: Any
        if step.kind == "set_status":
            assert step.status
            reason = fill(step.reason, values) if step.reason else \
                f"{self.definition.name}, step {step.id}"
            activity, argument = SET_STATUS, StatusToSet(*ident, step.status, reason, key)
            summary = f"{step.id}: ask the {kind}'s process to make it {step.status}"
        elif step.kind == "set_field":
            assert step.field_name
            value = fill(step.value, values) if isinstance(step.value, str) else step.value
            activity, argument = SET_FIELD, FieldToSet(*ident, step.field_name, value)
            summary = f"{step.id}: set {kind}.{step.field_name} to {value!r}"
        else:
            assert step.subject
            subject = fill(step.subject, values)
            argument = TicketToOpen(*ident, subject, fill(step.body or step.subject, values),
                                    step.category or "general", step.priority or "normal",
                                    key)
            activity, summary = OPEN_TICKET, f"{step.id}: open the ticket “{subject}”"
        outcome = await workflow.execute_activity(
            activity, argument, result_type=StepDone, start_to_close_timeout=CRM_STEP,
            retry_policy=steps.RETRY_FOREVER_GENTLY, summary=summary[:200])
        self._stale = True
        if outcome.ticket_id is not None:
            self._answers[f"{step.id}.ticket_id"] = Decimal(outcome.ticket_id)
        await self._record(step.id, visit, "running",
                           outcome.note if outcome.done else f"refused: {outcome.note}")
        return outcome

    async def _wait(self, step: Step) -> None:
        start = self._entered_at
        if step.until:
            value = (await self._values()).get(step.until)
            at = _instant(value) if value is not None else start
            summary = f"{step.id}: wait until {step.until}"
        else:
            assert step.duration
            if step.calendar:
                calendar = self.data.calendars[step.calendar]
                at = working_time_after(calendar, start, step.duration)
                summary = (f"{step.id}: wait {steps.describe(step.duration)} of "
                           f"{step.calendar} time")
            else:
                at = start + step.duration
                summary = f"{step.id}: wait {steps.describe(step.duration)}"
        await self._until(at, summary, lambda: False)
        self._heard = len(self._events)

    async def _wait_for(self, step: Step) -> bool:
        assert step.timeout
        at = self._entered_at + step.timeout
        if step.event:
            event = step.event
            heard = await self._until(
                at, f"{step.id}: wait up to {steps.describe(step.timeout)} for {event}",
                lambda: event in self._events[self._heard:])
            self._heard = len(self._events)
            return heard
        assert step.condition
        node = expressions.parse(step.condition)
        return await self._until(
            at, f"{step.id}: wait up to {steps.describe(step.timeout)} until "
                f"{step.condition}",
            lambda: self._fields is not None and expressions.holds(
                node, {**self._fields, **self._answers}, self.timeline.now()),
            reads=True)

    async def _until(self, at: datetime, summary: str, done: Callable[[], bool],
                     reads: bool = False) -> bool:
        """Wait until ``done()`` (True) or ``at`` (False); meanwhile the goal or a
        cancellation ends the enrolment, and a changed object is read again when a condition
        or the goal reads its fields."""
        reads = reads or bool(self.definition.goal and self.definition.goal.condition)
        while True:
            if reads and self._stale:
                await self._values()
            await self._check_goal()
            if done():
                return True
            if self.timeline.reached is not None and self.timeline.reached >= at:
                return False
            await self.timeline.wait_for(
                at, lambda: done() or self._interrupted() or (reads and self._stale), summary)

    # What the steps read.

    async def _values(self) -> dict[str, Any]:
        if self._stale or self._fields is None:
            self._stale = False
            fields = await workflow.execute_local_activity(
                READ_OBJECT, ObjectToRead(self.data.object_type, self.data.object_id),
                result_type=ObjectFields, start_to_close_timeout=steps.DATABASE_READ,
                retry_policy=steps.RETRY_FOREVER_GENTLY,
                summary=f"Read {self.data.object_type} {self.data.object_id}")
            self._fields = typed(self.data.object_type, fields)
        return {**self._fields, **self._answers}

    async def _holds(self, condition: str) -> bool:
        return expressions.holds(expressions.parse(condition), await self._values(),
                                 self.timeline.now())

    async def _person(self, rule: str, role: str | None, step: Step) -> Person | None:
        chosen: Person | None = await steps.write(
            FIND_PERSON, PersonToFind(self.data.object_type, self.data.object_id, rule, role),
            result_type=Person | None,  # type: ignore[arg-type]
            summary=f"{step.id}: find the person ({rule.replace('_', ' ')})")
        return chosen

    def _interrupted(self) -> bool:
        goal = self.definition.goal
        return self._cancelled is not None or bool(
            goal and goal.event and goal.event in self._events)

    async def _check_goal(self) -> None:
        if self._cancelled:
            raise _Cancelled()
        goal = self.definition.goal
        if goal is None:
            return
        if goal.event and goal.event in self._events:
            raise _GoalReached()
        if goal.condition and expressions.holds(expressions.parse(goal.condition),
                                                await self._values(), self.timeline.now()):
            raise _GoalReached()

    async def _record(self, step: str | None, visit: int, status: str, note: str) -> None:
        await steps.write(
            RECORD_ENROLMENT,
            EnrolmentProgress(self.data.enrolment_id, step, visit, status, note),
            summary=(f"Enrolment {self.data.enrolment_id}: step {step} (visit {visit})"
                     if status == "running" else
                     f"Enrolment {self.data.enrolment_id}: {status.replace('_', ' ')}"
                     f"{f' — {note}' if note else ''}"),
        )

    def _index(self, step_id: str) -> int:
        return next(i for i, s in enumerate(self.definition.steps) if s.id == step_id)


def working_time_after(calendar: business_time.Calendar, start: datetime,
                       duration: timedelta) -> datetime:
    """A wait in a calendar's time: whole days count working days (``2d``: the second
    working day after, at the same time), hours and minutes count working hours."""
    if duration % timedelta(days=1) == timedelta(0):
        return business_time.add_working_days(calendar, start, duration.days)
    return business_time.add(calendar, start, duration)


def _id(value: Any) -> int | None:
    return None if value is None else int(value)


def _instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(0), UTC)
    raise TypeError(f"not a date: {value!r}")  # a date field, checked before publishing
