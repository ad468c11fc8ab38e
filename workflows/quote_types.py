"""Quote approval's data: its policy, input, state, result and messages (the workflow is
``workflows.quote_approval``). Plain dataclasses, no behaviour: the worker passes this module
through its sandbox (``worker/sandbox.py``), so they are created once, not for every run."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from workflows.contracts import Person


@dataclass
class QuoteApprovalPolicy:
    discount_threshold_pct: Decimal = Decimal("20")
    """A discount up to this is validated at once; above it a manager must approve."""
    approval_timeout: timedelta = timedelta(days=5)
    on_timeout: Literal["validate", "escalate", "reject"] = "validate"
    """What a quote still pending after ``approval_timeout`` becomes."""
    reminder_every: timedelta = timedelta(days=1)
    quote_validity: timedelta = timedelta(days=30)
    """How long a validated quote may wait to be sent, and a sent one for the answer."""


@dataclass
class QuotedLine:
    description: str
    quantity: Decimal
    unit_price: Decimal


@dataclass
class QuoteApprovalInput:
    quote_id: int
    lead_id: int
    submission: int
    """The how-many-th submission of this quote: a rejected quote may be resubmitted."""
    author: Person
    team_id: int | None
    customer: str
    customer_id: int | None
    contact_name: str
    contact_email: str
    currency: str
    lines: list[QuotedLine]
    discount_pct: Decimal
    total: Decimal
    policy: QuoteApprovalPolicy = field(default_factory=QuoteApprovalPolicy)


@dataclass
class ManagerDecision:
    approve: bool
    by_user_id: int
    by_role: str
    by_team_id: int | None = None
    comment: str | None = None


@dataclass
class QuoteSending:
    by_user_id: int
    by_role: str


@dataclass
class CustomerResponse:
    accepted: bool
    by_user_id: int | None = None
    note: str | None = None


@dataclass
class QuoteState:
    status: str = "submitted"
    submission: int = 1
    waiting_for: str = ""
    approvers: list[int] = field(default_factory=list)
    reminders_sent: int = 0
    decision_due: datetime | None = None
    """When the timeout rule applies, while the quote waits for a decision."""
    decided_by: int | None = None
    decision_comment: str | None = None
    valid_until: datetime | None = None
    sale_id: int | None = None


@dataclass
class QuoteResult:
    status: str
    sale_id: int | None = None
