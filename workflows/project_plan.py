"""Sale to project's rules, pure: when a milestone is overdue and who hears of it, which
invoices are owed, when the project may close, and how the process reads in the Temporal UI."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from workflows.contracts import Person
from workflows.dunning_ladder import day_start, money
from workflows.project_types import (
    MilestoneProgress,
    PlannedMilestone,
    ProjectState,
    SaleToProjectInput,
)

DAY = timedelta(days=1)
SETTLED = ("paid", "written_off", "credited")


@dataclass
class Step:
    """The next thing time brings: a reminder, or an instalment to invoice."""

    at: datetime
    what: str


@dataclass
class InvoiceOwed:
    purpose: str
    """milestone_<id> or instalment_<n>: unique within the project, across its runs."""
    line: str
    amount: Decimal
    milestone_id: int | None = None
    instalment: int | None = None


def overdue_at(milestone: PlannedMilestone) -> datetime:
    """The due date is the last day to finish: the milestone is overdue once it has passed."""
    return day_start(milestone.due_on) + DAY


def reminder_due(milestone: PlannedMilestone, progress: MilestoneProgress, now: datetime,
                 every: timedelta) -> int:
    """The number of the reminder due ``now``, or 0. Reminder n falls n - 1 periods after
    the milestone became overdue; a process that starts (or continues as new) after several
    have fallen due sends only the latest. ``now`` is the process's history clock: when its
    workers were down, each reminder missed goes out as its timer fires."""
    if progress.completed_at is not None or now < overdue_at(milestone):
        return 0
    due = (now - overdue_at(milestone)) // every + 1
    return due if due > progress.reminders_sent else 0


def reminded(milestone: PlannedMilestone, reminder: int, manager: Person) -> list[Person]:
    """The first reminder goes to the milestone's owner; later ones to the project manager
    too."""
    people = [milestone.owner] if reminder == 1 else [milestone.owner, manager]
    return list({person.user_id: person for person in people}.values())


def invoices_owed(project: SaleToProjectInput, state: ProjectState, today: date
                  ) -> list[InvoiceOwed]:
    """What is due an invoice now: completed billable milestones (on_milestone), or the
    schedule's instalments whose date has come (schedule)."""
    issued = {invoice.purpose for invoice in state.invoices}
    if project.invoicing == "schedule":
        return [InvoiceOwed(f"instalment_{i.number}", f"{i.label} ({project.name})", i.amount,
                            instalment=i.number)
                for i in project.schedule
                if i.invoice_on <= today and i.number not in state.instalments_issued]
    done = {p.milestone_id for p in state.milestones if p.completed_at is not None}
    return [InvoiceOwed(f"milestone_{m.milestone_id}", f"Milestone {m.name} ({project.name})",
                        m.amount, milestone_id=m.milestone_id)
            for m in project.milestones
            if m.milestone_id in done and m.amount > 0
            and f"milestone_{m.milestone_id}" not in issued]


def all_milestones_done(state: ProjectState) -> bool:
    return all(p.completed_at is not None for p in state.milestones)


def everything_invoiced(project: SaleToProjectInput, state: ProjectState) -> bool:
    """Every invoice the project will issue has been issued (its milestones being done)."""
    if project.invoicing == "schedule":
        return len(state.instalments_issued) == len(project.schedule)
    issued = {invoice.purpose for invoice in state.invoices}
    return all(f"milestone_{m.milestone_id}" in issued
               for m in project.milestones if m.amount > 0)


def outstanding(state: ProjectState) -> list[str]:
    """The numbers of the invoices not yet paid, written off or credited."""
    return [i.number for i in state.invoices if i.status not in SETTLED]


def next_step(project: SaleToProjectInput, state: ProjectState, status: str
              ) -> Step | None:
    """The next moment time brings work: a reminder about an open milestone (while the
    project is active), or an instalment to invoice (until it closes)."""
    steps = []
    every = project.policy.milestone_reminder
    if status == "active":
        for milestone, progress in zip(project.milestones, state.milestones, strict=True):
            if progress.completed_at is None:
                at = overdue_at(milestone) + progress.reminders_sent * every
                steps.append(Step(at, f"reminder {progress.reminders_sent + 1} about "
                                      f"{milestone.name}"))
    if status in ("active", "delivered") and project.invoicing == "schedule":
        steps += [Step(day_start(i.invoice_on), f"invoicing {i.label}")
                  for i in project.schedule if i.number not in state.instalments_issued]
    return min(steps, key=lambda step: step.at, default=None)


def doing(project: SaleToProjectInput, state: ProjectState, status: str, reason: str,
          now: datetime) -> str:
    """What the Temporal UI says the project is doing: 'Project 7 for Acme: 2 of 5
    milestones done; next: Go-live due 12 Dec'."""
    about = f"Project {project.project_id} for {project.customer}"
    if status in ("closed", "cancelled"):
        return f"{about}: {status} ({reason})"
    if status == "delivered":
        waiting = ", ".join(outstanding(state)) or "the scheduled invoices"
        return f"{about} (delivered): every milestone done; waiting for {waiting} to be settled"
    done = sum(p.completed_at is not None for p in state.milestones)
    open_ones = [m for m, p in zip(project.milestones, state.milestones, strict=True)
                 if p.completed_at is None]
    text = f"{about}: {done} of {len(project.milestones)} milestones done"
    if open_ones:
        first = min(open_ones, key=lambda m: m.due_on)
        late = " (overdue)" if now >= overdue_at(first) else ""
        text += f"; next: {first.name} due {first.due_on:%d %b}{late}"
    return text


def amount(value: Decimal, project: SaleToProjectInput) -> str:
    """'1500.00 EUR'."""
    return money(value, project.currency)
