"""Support tickets: the policy, the process's input, state and messages, and what it asks of
the CRM (activity names and their payloads). The workflow is ``workflows.support_ticket``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from temporalio import workflow

from workflows.contracts import Person

with workflow.unsafe.imports_passed_through():
    # Business time needs real ZoneInfo objects: inside the sandbox they are proxies that
    # datetime refuses. The module is pure (no I/O), so passing it through is safe.
    from workflows.business_time import Calendar
    from workflows.sla import ClockView, SlaClock

PRIORITIES = ("low", "normal", "high", "urgent")
CATEGORIES = ("general", "billing", "technical", "complaint", "legal")
"""The ticket categories by default: routing matches them to the agents' skills."""
OPENED_BY_CRMFLOW = ("general", "billing")
"""Categories crmflow opens tickets in itself (an email to support, an invoice dispute)."""
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
HOUR = timedelta(hours=1)
FIRST_RESPONSE = {"low": 8 * HOUR, "normal": 4 * HOUR, "high": 2 * HOUR, "urgent": HOUR}
RESOLUTION = {"low": 40 * HOUR, "normal": 24 * HOUR, "high": 16 * HOUR, "urgent": 8 * HOUR}


@dataclass
class SupportCalendar:
    """The business hours SLA clocks count in (the holidays come from the ``holidays``
    package for ``holiday_country``, plus ``extra_days``)."""

    days: list[Weekday] = field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"])
    opens: time = time(9)
    closes: time = time(17)
    time_zone: str = "Europe/Paris"
    holiday_country: str | None = "FR"
    """None, or "" in the policy file: no public holidays."""
    extra_days: list[date] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.holiday_country == "":
            self.holiday_country = None
        if not self.days:
            raise ValueError("the calendar needs at least one working day")
        if self.opens >= self.closes:
            raise ValueError("the calendar's opens must come before closes")
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {self.time_zone!r}") from error
        if self.holiday_country is not None and not self.holiday_country.isupper():
            raise ValueError("holiday_country is an ISO 3166 code such as FR or DE")


def _is_category_name(name: str) -> bool:
    return (0 < len(name) <= 64 and name[0].isascii() and name[0].islower()
            and all(c == "_" or (c.isascii() and c.islower()) for c in name))


@dataclass
class SupportPolicy:
    first_response: dict[str, timedelta] = field(default_factory=lambda: dict(FIRST_RESPONSE))
    """Working time until the first answer, per priority (unnamed priorities keep theirs)."""
    resolution: dict[str, timedelta] = field(default_factory=lambda: dict(RESOLUTION))
    """Working time until resolved, per priority; the time waiting on the customer is not
    counted."""
    calendar: SupportCalendar = field(default_factory=SupportCalendar)
    breach_warning_pct: int = 75
    """The agent is warned when this share of a target is used."""
    waiting_reminder: timedelta = timedelta(days=2)
    """While waiting on the customer, a reminder this often."""
    auto_close_after: timedelta = timedelta(days=7)
    """Closed after this long waiting on a silent customer."""
    reopen_window: timedelta = timedelta(days=7)
    """A resolved ticket may be reopened or rated this long, then it closes."""
    agent_capacity: int = 20
    """An agent with this many open tickets is not available to routing."""
    categories: list[str] = field(default_factory=lambda: list(CATEGORIES))
    """The categories a ticket may have (a ticket in any other is refused): the skills
    routing matches; ``general`` and ``billing`` are always among them."""

    def __post_init__(self) -> None:
        for name, defaults in (("first_response", FIRST_RESPONSE), ("resolution", RESOLUTION)):
            targets = {**defaults, **getattr(self, name)}
            unknown = set(targets) - set(PRIORITIES)
            if unknown:
                raise ValueError(f"{name}: unknown priorities {sorted(unknown)}; "
                                 f"known: {', '.join(PRIORITIES)}")
            if any(t <= timedelta(0) for t in targets.values()):
                raise ValueError(f"{name}: targets must be positive durations")
            setattr(self, name, targets)
        if not 0 < self.breach_warning_pct < 100:
            raise ValueError("breach_warning_pct must be between 0 and 100")
        wrong = [c for c in self.categories if not _is_category_name(c)]
        if wrong:
            raise ValueError(f"categories: {wrong} are not names (a-z and _, up to 64)")
        missing = [c for c in OPENED_BY_CRMFLOW if c not in self.categories]
        if missing:
            raise ValueError(f"categories must include {', '.join(missing)}: crmflow opens "
                             f"tickets in them itself (emails to support, invoice disputes)")


@dataclass
class Customer:
    email: str
    name: str
    account_id: int | None = None
    account_owner_id: int | None = None
    """The account's owner (a sales rep): a complaint gets them a follow-up task."""


@dataclass
class TicketEmail:
    """An email the process owes, sent by its main loop (decisions answer first)."""

    to: Person
    template: str
    purpose: str
    summary: str
    context: dict[str, Any] = field(default_factory=dict)
    to_customer: bool = False
    """Customer emails are threaded into the ticket's conversation."""


@dataclass
class TicketState:
    status: str = "new"
    status_reason: str = ""
    priority: str = "normal"
    assignee: Person | None = None
    opened_at: datetime | None = None
    clocks: list[SlaClock] = field(default_factory=list)
    changes: int = 0
    """Status changes recorded so far: the next one's key is numbered after them."""
    messages: int = 0
    replies: int = 0
    info_requests: int = 0
    check: str | None = None
    """The back-office check to do once the customer sends what was asked for."""
    open_tasks: list[int] = field(default_factory=list)
    awaited_document: str | None = None
    """The kind of document the ticket waits for (proof_of_address): nothing else resumes
    it."""
    arrived: ArrivedDocument | None = None
    """The document that came, for the back-office check to show."""
    assignments: int = 0
    waits: int = 0
    waiting_since: datetime | None = None
    reminders: int = 0
    """Reminders sent in the current wait."""
    escalated_at: datetime | None = None
    resolutions: int = 0
    reopenings: int = 0
    resolved_at: datetime | None = None
    resolution: str | None = None
    resolved_by: int | None = None
    upheld: bool | None = None
    disputes_told: int = 0
    """Resolutions the invoice's dunning process was told of."""
    closed_at: datetime | None = None
    rating: int | None = None
    rating_comment: str | None = None
    thread: list[str] = field(default_factory=list)
    """Message-IDs of the conversation by email, oldest first."""
    customer_message_id: str | None = None
    """The customer's latest email: an agent's answer replies to it."""
    outbox: list[TicketEmail] = field(default_factory=list)


@dataclass
class SupportTicketInput:
    ticket_id: int
    subject: str
    category: str
    priority: str
    channel: str
    customer: Customer
    calendar: Calendar
    """The policy's calendar with its holiday dates (computed outside the workflow)."""
    policy: SupportPolicy = field(default_factory=SupportPolicy)
    first_message_id: str | None = None
    """The Message-ID of the email that opened the ticket, if one did."""
    support_address: str | None = None
    """Where the customer's answers to the ticket's emails go (their Reply-To)."""
    invoice_id: int | None = None
    """A billing ticket about a disputed invoice: resolving it resolves the dispute."""
    carried: TicketState | None = None
    """The state of the previous run, when the process continued as new."""


@dataclass
class TicketView:
    """The ticket as its process sees it now (the ``state`` query, the updates' answer)."""

    status: str
    status_reason: str
    priority: str
    assignee_id: int | None
    waiting_for: str
    clocks: list[ClockView]
    open_tasks: list[int]
    reopenings: int
    closes_at: datetime | None
    """A resolved ticket closes then unless it is reopened or rated first."""
    rating: int | None
    awaited_document: str | None = None


@dataclass
class TicketResult:
    status: str
    rating: int | None = None


# Messages ---------------------------------------------------------------------------


@dataclass
class ArrivedDocument:
    """A file kept on the ticket (``GET /files/{file_id}``), and what document it is (None:
    an email's attachment, which nobody labelled)."""

    file_id: int
    name: str
    kind: str | None = None


@dataclass
class CustomerMessage:
    body: str
    by_role: str
    by_user_id: int | None = None
    email_message_id: str | None = None
    documents: list[ArrivedDocument] = field(default_factory=list)
    """The files it came with (an email's attachments)."""


@dataclass
class DocumentArrival:
    """A file uploaded to the ticket, saying what document it is."""

    document: ArrivedDocument
    by_role: str


@dataclass
class AgentReply:
    body: str
    by: Person
    by_role: str


@dataclass
class InfoRequest:
    what: str
    by: Person
    by_role: str
    check: str | None = None
    """A back-office task to do once the customer answers (e.g. check the proof)."""
    document: str | None = None
    """A kind of document the ticket waits for (proof_of_address): only a file of that kind
    resumes it, through a check of it ("check the proof of address" unless ``check`` says
    otherwise)."""


@dataclass
class Assignment:
    agent: Person
    by_user_id: int
    by_role: str


@dataclass
class Resolution:
    resolution: str
    by_user_id: int
    by_role: str
    upheld: bool | None = None
    """For a ticket about a disputed invoice: was the customer right?"""


@dataclass
class Reopening:
    reason: str
    by_role: str
    by_user_id: int | None = None


@dataclass
class Rating:
    score: int
    by_role: str
    comment: str | None = None
    by_user_id: int | None = None


TASK_COMPLETED = "task_completed"
"""Signal to the ticket's process: one of the back-office tasks it created is done."""


@dataclass
class TaskCompleted:
    task_id: int
    outcome: str
    by_user_id: int | None = None


# What the process asks of the CRM ---------------------------------------------------

ASSIGN_TICKET = "assign_ticket"
RECORD_TICKET_MESSAGE = "record_ticket_message"
SAVE_TICKET = "save_ticket"


@dataclass
class TicketToRoute:
    ticket_id: int
    category: str
    capacity: int


@dataclass
class TicketMessageToRecord:
    ticket_id: int
    author: Literal["customer", "agent"]
    body: str
    purpose: str
    """Unique within the process: the message is recorded once per purpose."""
    author_user_id: int | None = None
    email_message_id: str | None = None
    """The customer's email, or (for an agent) None: the reply email's id is derived."""
    reply_email_purpose: str | None = None
    """The purpose of the email carrying an agent's message, whose Message-ID it takes."""


@dataclass
class TicketFacts:
    """What the process keeps on the ticket row besides its status."""

    ticket_id: int
    priority: str
    assignee_id: int | None
    first_response_due: datetime | None
    resolution_due: datetime | None
    first_responded_at: datetime | None
    waiting_since: datetime | None
    escalated_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    resolution: str | None
    dispute_upheld: bool | None
    rating: int | None
    rating_comment: str | None
    reopenings: int
    first_response_breached_at: datetime | None = None
    resolution_breached_at: datetime | None = None
    awaited_document: str | None = None
