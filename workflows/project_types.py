"""Sale to project: the policy, the process's input, state and messages, and what it asks of
the CRM (activity names and their payloads). The workflow is ``workflows.sale_to_project``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Literal

from workflows.contracts import Person

ACCOUNT_OWNER = "account_owner"
PROJECT_MANAGER = "project_manager"
Invoicing = Literal["on_milestone", "schedule"]

COMPLETE_MILESTONE = "complete_milestone"
END_PROJECT = "end_project"


@dataclass
class ProjectPolicy:
    milestone_reminder: timedelta = timedelta(days=2)
    """An overdue milestone reminds its owner, then also the project manager, this often."""
    default_template: str = "standard"
    """The template of a sale whose product line has none of its own."""
    invoicing: Invoicing = "on_milestone"
    """on_milestone: each billable milestone invoices its share when completed; schedule: the
    template's instalments (else the billable milestones' shares) on their fixed dates. A sale
    may say otherwise."""
    payment_terms: timedelta = timedelta(days=30)
    """An invoice is due this long after it is issued."""
    milestone_sign_off: str | None = None
    """A kind of document (``sign_off``) a milestone must carry before it is completed: the
    completion is refused naming it until a file of that kind is on the milestone."""


@dataclass
class Participant:
    role: str
    """account_owner, project_manager, or a role the template names."""
    person: Person


@dataclass
class PlannedMilestone:
    milestone_id: int
    name: str
    due_on: date
    owner: Person
    amount: Decimal
    """Invoiced when it is completed (on_milestone); 0: not billable."""


@dataclass
class PlannedTask:
    title: str
    role: str
    assignee: Person
    due_after: timedelta
    """From the kick-off."""


@dataclass
class Instalment:
    """An invoice of the schedule, issued on its date whatever the work's progress."""

    number: int
    label: str
    invoice_on: date
    amount: Decimal


@dataclass
class MilestoneProgress:
    milestone_id: int
    completed_at: datetime | None = None
    completed_by: int | None = None
    reminders_sent: int = 0


@dataclass
class ProjectInvoice:
    invoice_id: int
    number: str
    total: Decimal
    purpose: str
    """milestone_<id> or instalment_<n>: what it invoices, unique within the project."""
    status: str = "open"
    """open until its dunning process says paid, written_off or credited."""


@dataclass
class ProjectState:
    status: str = "planned"
    status_reason: str = ""
    milestones: list[MilestoneProgress] = field(default_factory=list)
    invoices: list[ProjectInvoice] = field(default_factory=list)
    settled: dict[int, str] = field(default_factory=dict)
    """Invoices settled as their dunning told (perhaps before the issuing step noted them)."""
    instalments_issued: list[int] = field(default_factory=list)
    waiting_for: str = ""
    next_step_at: datetime | None = None


@dataclass
class SaleToProjectInput:
    sale_id: int
    project_id: int
    name: str
    customer: str
    account_id: int
    contact: Person
    """The customer's contact (user_id 0): the kick-off and closing emails go to them."""
    currency: str
    amount: Decimal
    template: str
    invoicing: Invoicing
    participants: list[Participant]
    milestones: list[PlannedMilestone]
    tasks: list[PlannedTask] = field(default_factory=list)
    schedule: list[Instalment] = field(default_factory=list)
    policy: ProjectPolicy = field(default_factory=ProjectPolicy)
    carried: ProjectState | None = None
    """The state of the previous run, when the process continued as new."""

    @property
    def manager(self) -> Person:
        return next(p.person for p in self.participants if p.role == PROJECT_MANAGER)


@dataclass
class ProjectResult:
    status: str
    invoiced: Decimal


@dataclass
class MilestoneCompletion:
    milestone_id: int
    by_user_id: int
    by_role: str


@dataclass
class Cancellation:
    reason: str
    by_user_id: int
    by_role: str


@dataclass
class MilestoneDone:
    """The milestone's row: completed, when and by whom (writing it twice is harmless)."""

    milestone_id: int
    completed_at: datetime
    completed_by_id: int


@dataclass
class ProjectEnded:
    project_id: int
    ended_at: datetime
