"""Sale to project: from a won sale to a delivered, invoiced, closed project
(workflow id ``project-{sale_id}``)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from decimal import Decimal

from temporalio import workflow

from workflows import project_plan, steps
from workflows.contracts import (
    ISSUE_INVOICE,
    EmailToSend,
    InvoiceLineToIssue,
    InvoiceToIssue,
    IssuedInvoice,
    Person,
    StartOptions,
    TaskToCreate,
)
from workflows.lifecycle import Lifecycle
from workflows.messages import INVOICE_SETTLED, InvoiceSettled
from workflows.project_plan import InvoiceOwed
from workflows.project_types import (
    COMPLETE_MILESTONE,
    END_PROJECT,
    Cancellation,
    MilestoneCompletion,
    MilestoneDone,
    MilestoneProgress,
    PlannedMilestone,
    ProjectEnded,
    ProjectInvoice,
    ProjectResult,
    ProjectState,
    SaleToProjectInput,
)
from workflows.refusals import MISSING_INFORMATION, NOT_ALLOWED, WRONG_STATUS, refuse
from workflows.roles import Role

TRANSITIONS: dict[str, tuple[str, ...]] = {
    "planned": ("active", "cancelled"),
    "active": ("active", "delivered", "cancelled"),
    "delivered": ("delivered", "closed"),
}
"""A project's statuses and where each may go; closed and cancelled are final. A status that
goes to itself records a business event in it: a milestone completed, an invoice issued."""
UNDER_WAY = ("planned", "active")
"""A project may be cancelled while its work is under way (not once delivered)."""
ISSUING = timedelta(minutes=1)
"""An invoice is a database write and a process start."""


def start_options(project: SaleToProjectInput) -> StartOptions:
    """How the process shows in the Temporal UI from its start."""
    return StartOptions(
        summary=f"Project {project.project_id} for {project.customer} — "
                f"{len(project.milestones)} milestones, "
                f"{project_plan.amount(project.amount, project)} invoiced "
                f"{project.invoicing.replace('_', ' ')} (sale {project.sale_id})"[:400],
        details=f"Template {project.template}; manager {project.manager.name}; "
                f"policy: {project.policy}",
        status="planned",
        customer_id=project.account_id,
        owner=project.manager.user_id,
        amount=project.amount,
    )


@workflow.defn
class SaleToProject:
    """Deliver a won sale as a project, invoice it, and close it once everything is paid.

    The project was set up from its template when the sale was won: participants (the
    sale's rep as account owner, a project manager, members by role), milestones with due
    dates, owners and billable shares, tasks, and, for schedule invoicing, the instalments.
    The process kicks it off: the tasks are created and the customer's contact and every
    participant get a kick-off email.

    Milestones are completed by the project manager or the milestone's owner. A milestone
    past its due date reminds its owner, then every ``milestone_reminder`` its owner and the
    project manager, until it is done. Invoicing ``on_milestone`` issues each billable
    milestone's share once it is completed; ``schedule`` issues the instalments on their
    dates. Each invoice starts its own dunning process, which tells this one when the
    invoice is paid, written off or credited.

    When every milestone is done the project is delivered; when every invoice is also
    settled it closes, with a closing email. The project manager may cancel it, with a
    reason, while the work is under way: reminders and invoicing stop. Every change — a
    milestone completed, an invoice issued — is recorded under its own business event, taken
    in memory first, so a completion racing a cancellation is refused saying which came
    first. Projects last months: the process continues as new, carrying its state.
    """

    @workflow.init
    def __init__(self, project: SaleToProjectInput) -> None:
        self.project = project
        self.policy = project.policy
        self.state = project.carried or ProjectState(
            milestones=[MilestoneProgress(m.milestone_id) for m in project.milestones])
        self.lifecycle = Lifecycle("project", project.project_id, TRANSITIONS,
                                   status=self.state.status, on_change=self._show)
        self.lifecycle.last.reason = self.state.status_reason
        self._events = 0
        """Messages taken in this run: the main loop looks again when it changes."""
        self.timeline = steps.Timeline()
        """What time has brought: reminders and instalments fall due as their timers fire."""

    @workflow.run
    async def run(self, project: SaleToProjectInput) -> ProjectResult:
        if project.carried is None:
            await self._kick_off()
        while not self.lifecycle.final:
            seen = self._events
            await self._catch_up()
            if self.lifecycle.final:
                break
            if workflow.info().is_continue_as_new_suggested():
                await self._quiet()
                workflow.continue_as_new(dataclasses.replace(project, carried=self._snapshot()))
            await self._wait_for_what_comes_next(seen)
        await self._say_goodbye()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return ProjectResult(self.lifecycle.status,
                             sum((i.total for i in self.state.invoices), Decimal(0)))

    # Kick-off ----------------------------------------------------------------------------

    async def _kick_off(self) -> None:
        project = self.project
        async with self._change("active", f"kicked off from template {project.template}: "
                                          f"{len(project.milestones)} milestones, managed by "
                                          f"{project.manager.name}", "kick_off") as moving:
            pass
        if not moving:
            return  # cancelled before it began
        for n, task in enumerate(project.tasks, start=1):
            await steps.create_task(TaskToCreate(
                kind="project_task",
                title=f"{task.title} (project {project.project_id}, {project.customer})",
                purpose=f"task_{n}",
                assignee_id=task.assignee.user_id,
                due_at=workflow.now() + task.due_after,
                related_type="project",
                related_id=project.project_id,
            ))
        await self._email(project.contact, "project_kick_off", "kick_off:customer",
                          f"Send {project.customer} the kick-off")
        for person, roles in self._team():
            await self._email(person, "project_kick_off_team", f"kick_off:{person.user_id}",
                              f"Tell {person.name} they are on the project as {roles}",
                              roles=roles)

    # The main loop: invoices, reminders, delivery and closing as they fall due ----------

    async def _catch_up(self) -> None:
        for owed in project_plan.invoices_owed(self.project, self.state,
                                               self.timeline.now().date()):
            await self._invoice(owed)
        await self._remind()
        status = self.lifecycle.status
        if project_plan.invoices_owed(self.project, self.state, self.timeline.now().date()):
            return  # a milestone completed meanwhile: invoiced first, on the next round
        if status == "active" and project_plan.all_milestones_done(self.state):
            await self._move("delivered", "every milestone done: "
                                          f"{len(project_plan.outstanding(self.state))} "
                                          f"invoices to be settled", "delivered")
        elif (status == "delivered" and project_plan.everything_invoiced(self.project, self.state)
              and not project_plan.outstanding(self.state)):
            settled = sorted(self.state.settled.values())
            summary = ", ".join(f"{settled.count(s)} {s.replace('_', ' ')}"
                                for s in dict.fromkeys(settled)) or "nothing invoiced"
            async with self._change("closed", f"every milestone done and every invoice "
                                              f"settled ({summary})", "closed") as moving:
                if moving:
                    await self._record_end()

    async def _wait_for_what_comes_next(self, seen: int) -> None:
        """Wait for the next step's time, unless a message came (since ``seen``) first."""
        step = project_plan.next_step(self.project, self.state, self.lifecycle.status)
        self.state.waiting_for = step.what if step else {
            "active": "milestones to be completed",
            "delivered": "invoices to be settled",
        }.get(self.lifecycle.status, "")
        self.state.next_step_at = step.at if step else None
        self._show()

        def moved() -> bool:
            return self._events != seen or self.lifecycle.final

        if step is None:
            await workflow.wait_condition(moved)
            return
        await self.timeline.wait_for(step.at, moved,
                                     f"Wait until {step.at:%Y-%m-%d} for {step.what}")

    async def _invoice(self, owed: InvoiceOwed) -> None:
        """Issue one invoice, as a recorded change: a cancellation comes before or after it."""
        project, status = self.project, self.lifecycle.status
        due_on = workflow.now().date() + self.policy.payment_terms
        async with self._change(status, f"invoiced {owed.line}: "
                                        f"{project_plan.amount(owed.amount, project)}, due "
                                        f"{due_on}", f"invoice_{owed.purpose}") as moving:
            if not moving:
                return
            issued: IssuedInvoice = await workflow.execute_activity(
                ISSUE_INVOICE,
                InvoiceToIssue(
                    purpose=owed.purpose, account_id=project.account_id,
                    currency=project.currency,
                    lines=[InvoiceLineToIssue(owed.line, owed.amount)], due_on=due_on,
                    sale_id=project.sale_id, project_id=project.project_id,
                    milestone_id=owed.milestone_id,
                    notify_process_id=workflow.info().workflow_id,
                ),
                result_type=IssuedInvoice,
                start_to_close_timeout=ISSUING,
                retry_policy=steps.RETRY_FOREVER_GENTLY,
                summary=f"Invoice {owed.line}: {project_plan.amount(owed.amount, project)}"[:200],
            )
            self.state.invoices.append(ProjectInvoice(
                issued.invoice_id, issued.number, issued.total, owed.purpose,
                self.state.settled.get(issued.invoice_id, "open")))
            if owed.instalment is not None:
                self.state.instalments_issued.append(owed.instalment)

    async def _remind(self) -> None:
        """Remind about each overdue milestone whose reminder is due (one per period)."""
        every, manager = self.policy.milestone_reminder, self.project.manager
        for milestone, progress in zip(self.project.milestones, self.state.milestones,
                                       strict=True):
            reminder = project_plan.reminder_due(milestone, progress, self.timeline.now(),
                                                 every)
            if not reminder or not await self._still_open(progress):
                continue
            progress.reminders_sent = reminder
            for person in project_plan.reminded(milestone, reminder, manager):
                await self._email(
                    person, "milestone_reminder",
                    f"milestone_{milestone.milestone_id}:reminder_{reminder}:{person.user_id}",
                    f"Remind {person.name} that {milestone.name} is overdue ({reminder})",
                    milestone=milestone.name, due_on=milestone.due_on.isoformat(),
                    owner_name=milestone.owner.name, reminder=reminder,
                    escalated=person.user_id != milestone.owner.user_id)

    async def _still_open(self, progress: MilestoneProgress) -> bool:
        """Whether, every message in hand applied, the project is active and the milestone
        open. Call it right before the reminder, with no await in between."""
        await self._quiet()
        return self.lifecycle.status == "active" and progress.completed_at is None

    async def _say_goodbye(self) -> None:
        await self._quiet()
        project, status = self.project, self.lifecycle.status
        if status == "closed":
            await self._email(project.contact, "project_closed", "closed:customer",
                              f"Tell {project.customer} the project is closed")
        for person, _ in self._team():
            if status == "closed":
                await self._email(person, "project_closed", f"closed:{person.user_id}",
                                  f"Tell {person.name} the project is closed")
            else:
                await self._email(person, "project_cancelled", f"cancelled:{person.user_id}",
                                  f"Tell {person.name} the project is cancelled",
                                  reason=self.lifecycle.last.reason)

    # Messages ------------------------------------------------------------------------------

    @workflow.update
    async def complete_milestone(self, completion: MilestoneCompletion) -> ProjectState:
        """The project manager or the milestone's owner marks it done; answered once
        recorded (invoicing follows)."""
        milestone, progress = self._milestone(completion.milestone_id)
        async with self._change("active", f"milestone {milestone.name} completed",
                                f"milestone_{milestone.milestone_id}",
                                by_user_id=completion.by_user_id) as moving:
            if not moving:
                self.lifecycle.refuse(
                    f"have milestone {milestone.name} completed")
            self._refuse_if_done(milestone, progress)
            progress.completed_at = workflow.now()
            progress.completed_by = completion.by_user_id
            await steps.write(
                COMPLETE_MILESTONE,
                MilestoneDone(milestone.milestone_id, workflow.now(), completion.by_user_id),
                summary=f"Record milestone {milestone.name} as completed",
            )
        self._events += 1
        return self._snapshot()

    @complete_milestone.validator
    def _may_complete(self, completion: MilestoneCompletion) -> None:
        by, role = completion.by_user_id, completion.by_role
        found = [m for m in self.project.milestones if m.milestone_id == completion.milestone_id]
        owns_one = any(m.owner.user_id == by for m in self.project.milestones)
        if not found:
            if not (self._manages(by, role) or owns_one):
                refuse(NOT_ALLOWED, "only the project manager or a milestone's owner "
                                    "completes milestones")
            refuse(WRONG_STATUS, f"project {self.project.project_id} has no milestone "
                                 f"{completion.milestone_id}")
        milestone, progress = self._milestone(completion.milestone_id)
        if not (self._manages(by, role) or milestone.owner.user_id == by):
            refuse(NOT_ALLOWED, f"only the project manager ({self.project.manager.name}) or "
                                f"the milestone's owner ({milestone.owner.name}) completes "
                                f"milestone {milestone.name}")
        if self.lifecycle.status != "active":
            self.lifecycle.refuse(
                f"have milestone {milestone.name} completed", "only an active project can")
        self._refuse_if_done(milestone, progress)

    @workflow.update
    async def cancel(self, cancellation: Cancellation) -> ProjectState:
        """The project manager stops the project, with a reason: no more reminders or
        invoices; the participants are told."""
        async with self._change("cancelled", cancellation.reason, "cancel",
                                by_user_id=cancellation.by_user_id) as moving:
            if not moving:
                self.lifecycle.refuse("be cancelled")
            await self._record_end()
        self._events += 1
        return self._snapshot()

    @cancel.validator
    def _may_cancel(self, cancellation: Cancellation) -> None:
        if not self._manages(cancellation.by_user_id, cancellation.by_role):
            refuse(NOT_ALLOWED, f"only the project manager ({self.project.manager.name}) or an "
                                f"admin cancels project {self.project.project_id}")
        if self.lifecycle.status not in UNDER_WAY:
            self.lifecycle.refuse(
                "be cancelled", "only a project whose work is under way can")
        if not cancellation.reason.strip():
            refuse(MISSING_INFORMATION, "a cancellation needs its reason", missing=["reason"])

    @workflow.signal(name=INVOICE_SETTLED)
    def invoice_settled(self, settled: InvoiceSettled) -> None:
        """An invoice of the project is paid, written off or credited (its dunning ended)."""
        self.state.settled[settled.invoice_id] = settled.status
        for invoice in self.state.invoices:
            if invoice.invoice_id == settled.invoice_id:
                invoice.status = settled.status
        self._events += 1

    @workflow.query(name="state")
    def current_state(self) -> ProjectState:
        return self._snapshot()

    # Helpers -------------------------------------------------------------------------------

    @asynccontextmanager
    async def _change(self, to_status: str, reason: str, event: str, *,
                      by_user_id: int | None = None) -> AsyncIterator[bool]:
        """A guarded status change recorded under its business event (unique across runs)."""
        async with self.lifecycle.change(to_status, reason, by_user_id=by_user_id) as moving:
            self.lifecycle.event_prefix = f"{event}:"  # read when recorded, under the lock
            yield moving

    async def _move(self, to_status: str, reason: str, event: str) -> bool:
        async with self._change(to_status, reason, event) as moving:
            pass
        return moving

    async def _quiet(self) -> None:
        """Wait until every message in hand has been applied and recorded."""
        await workflow.wait_condition(
            lambda: workflow.all_handlers_finished() and self.lifecycle.settled)

    def _manages(self, user_id: int, role: str) -> bool:
        return user_id == self.project.manager.user_id or role == Role.ADMIN

    def _milestone(self, milestone_id: int) -> tuple[PlannedMilestone, MilestoneProgress]:
        return next((m, p) for m, p in zip(self.project.milestones, self.state.milestones,
                                           strict=True) if m.milestone_id == milestone_id)

    def _refuse_if_done(self, milestone: PlannedMilestone, progress: MilestoneProgress) -> None:
        if progress.completed_at is not None:
            by = self._name(progress.completed_by)
            refuse(WRONG_STATUS, f"milestone {milestone.name} of project "
                                 f"{self.project.project_id} was completed on "
                                 f"{progress.completed_at:%Y-%m-%d} by {by}")

    def _name(self, user_id: int | None) -> str:
        return next((p.person.name for p in self.project.participants
                     if p.person.user_id == user_id), f"user {user_id}")

    def _team(self) -> list[tuple[Person, str]]:
        """Each participant once, with their roles on the project."""
        team: dict[int, tuple[Person, list[str]]] = {}
        for participant in self.project.participants:
            person = participant.person
            team.setdefault(person.user_id, (person, []))[1].append(
                participant.role.replace("_", " "))
        return [(person, " and ".join(roles)) for person, roles in team.values()]

    async def _record_end(self) -> None:
        await steps.write(
            END_PROJECT, ProjectEnded(self.project.project_id, workflow.now()),
            summary=f"Record when project {self.project.project_id} ended",
        )

    async def _email(self, to: Person, template: str, purpose: str, summary: str,
                     **context: object) -> None:
        project = self.project
        await steps.send_email(
            EmailToSend(
                to=to.email,
                template=template,
                purpose=purpose,
                context={
                    "recipient_name": to.name,
                    "project_id": project.project_id,
                    "project_name": project.name,
                    "customer": project.customer,
                    "manager_name": project.manager.name,
                    "milestones": [{"name": m.name, "due_on": m.due_on.isoformat(),
                                    "owner": m.owner.name} for m in project.milestones],
                    **context,
                },
                related_type="project",
                related_id=project.project_id,
            ),
            summary=summary,
        )

    def _snapshot(self) -> ProjectState:
        return dataclasses.replace(self.state, status=self.lifecycle.status,
                                   status_reason=self.lifecycle.last.reason)

    def _show(self) -> None:
        """What the Temporal UI says this project is doing now."""
        workflow.set_current_details(project_plan.doing(
            self.project, self.state, self.lifecycle.status, self.lifecycle.last.reason,
            workflow.now()))
