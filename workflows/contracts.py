"""What the workflows ask of the outside world: activity names and their inputs and outputs.

The activities in ``activities/`` implement these; keeping the contracts here lets workflow
modules stay free of database and SMTP imports (the sandbox re-imports workflow modules).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

SEND_EMAIL = "send_email"
RECORD_STATUS = "record_status"
CREATE_TASK = "create_task"
FIND_PEOPLE = "find_people"
ASSIGN_SALES_REP = "assign_sales_rep"
OPEN_OPPORTUNITY = "open_opportunity"
CREATE_SALE = "create_sale"


@dataclass
class EmailToSend:
    to: str
    template: str
    purpose: str
    """Unique within the process: the outbox key is the workflow id plus this."""
    context: dict[str, Any] = field(default_factory=dict)
    related_type: str | None = None
    related_id: int | None = None
    in_reply_to: str | None = None
    """Threading (RFC 5322): the Message-ID this email answers, and the conversation so far."""
    references: list[str] = field(default_factory=list)
    reply_to: str | None = None
    """Where the recipient's answer should go, when not to the sender."""


@dataclass
class EmailOutcome:
    status: Literal["sent", "already_sent", "refused"]
    """``refused``: no retry can deliver it (the server refused it for good, or it cannot be
    built); its outbox row is ``failed``, its owner has a task, and the process goes on.
    (The word stays ``refused`` here: recorded histories carry it.)"""
    message_id: str
    detail: str | None = None


@dataclass
class StatusToRecord:
    object_type: str
    object_id: int
    to_status: str
    reason: str
    actor_user_id: int | None = None
    """The person who decided; None when the process decided (a rule, a timeout)."""
    holds_until: datetime | None = None
    """When the new status runs out, where it does (a sent quote's validity)."""
    event: str | None = None
    """The business event, unique per workflow id across its runs: the record's key.
    (Processes started before 2026-11-24 send none: their key is the run and activity id.)"""


@dataclass
class TaskToCreate:
    kind: str
    title: str
    purpose: str
    """Unique within the process: the task's idempotency key is the workflow id plus this."""
    assignee_id: int | None
    due_at: datetime | None = None
    description: str | None = None
    related_type: str | None = None
    related_id: int | None = None


@dataclass
class CreatedTask:
    task_id: int
    assignee_id: int | None


@dataclass
class Person:
    user_id: int
    name: str
    email: str


@dataclass
class PeopleToFind:
    """Active users with one of the roles, of the team when one is given, bar one person."""

    roles: list[str]
    team_id: int | None = None
    excluding_user_id: int | None = None


@dataclass
class RepToAssign:
    lead_id: int
    rule: Literal["round_robin", "least_loaded"]


@dataclass
class OpportunityToOpen:
    lead_id: int
    owner_id: int
    need: str
    budget: Decimal


@dataclass
class OpenedOpportunity:
    account_id: int
    contact_id: int
    owner_id: int


@dataclass
class SaleToCreate:
    quote_id: int


@dataclass
class CreatedSale:
    sale_id: int
    amount: Decimal


@dataclass
class StartOptions:
    """How a process shows in the Temporal UI from its start: summary, details, attributes."""

    summary: str
    details: str | None = None
    status: str = "new"
    """The first CrmStatus."""
    customer_id: int | None = None
    owner: int | None = None
    amount: Decimal | None = None


# Between processes: one process's step that creates another process's object and starts it
# (commit, then start, through crm.launcher), implemented by the activities of the process
# that owns the object.

ISSUE_INVOICE = "issue_invoice"
"""Create an invoice and start its dunning process (owned by invoice dunning)."""
OPEN_DISPUTE_TICKET = "open_dispute_ticket"
"""Open a billing ticket about a disputed invoice (owned by support; until then, a task)."""
START_PROJECT = "start_project"
"""Start the project of a won sale (owned by sale to project)."""


@dataclass
class InvoiceLineToIssue:
    description: str
    amount: Decimal


@dataclass
class InvoiceToIssue:
    purpose: str
    """Unique within the issuing process: the invoice is made once per process and purpose."""
    account_id: int
    currency: str
    lines: list[InvoiceLineToIssue]
    due_on: date
    sale_id: int | None = None
    project_id: int | None = None
    milestone_id: int | None = None
    notify_process_id: str | None = None
    """The process told (INVOICE_SETTLED) when the invoice is paid, written off or credited."""


@dataclass
class IssuedInvoice:
    invoice_id: int
    number: str
    total: Decimal
    workflow_id: str


@dataclass
class DisputeToRaise:
    invoice_id: int
    account_id: int
    reason: str
    by_user_id: int | None = None


@dataclass
class RaisedDispute:
    ticket_id: int | None = None
    """The billing ticket opened about it (support), or None where a task stands in."""
    task_id: int | None = None


@dataclass
class ProjectToStart:
    sale_id: int


@dataclass
class StartedProject:
    workflow_id: str
