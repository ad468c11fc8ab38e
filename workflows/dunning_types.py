"""Invoice dunning's data: its input, state and result, and the messages it takes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from workflows.contracts import Person
from workflows.dunning_ladder import DunningPolicy
from workflows.roles import Role


@dataclass
class ReceivedPayment:
    """A payment as counted: the answer to it, given again for its reference."""

    reference: str
    amount: Decimal
    received_at: datetime
    balance_after: Decimal
    by_user_id: int | None = None


@dataclass
class OpenDispute:
    number: int
    reason: str
    since: datetime
    by_user_id: int | None = None
    raised: bool = False
    """The ticket about it (until support exists, an accountant's task) is open."""
    ticket_id: int | None = None
    task_id: int | None = None


@dataclass
class PaymentPromise:
    number: int
    pay_by: date
    until: datetime
    """The end of the promised day plus the grace: the ladder resumes then if unpaid."""


@dataclass
class DunningState:
    status: str = "open"
    status_reason: str = ""
    balance: Decimal = Decimal(0)
    """The open balance (shown; worked out from the rest)."""
    level_reached: int = 0
    late_fee: Decimal = Decimal(0)
    paid: Decimal = Decimal(0)
    credited: Decimal = Decimal(0)
    payments: list[ReceivedPayment] = field(default_factory=list)
    payments_told: int = 0
    """How many payments the customer's emails have acknowledged."""
    pushed_back: timedelta = timedelta(0)
    """How much later than its offsets the ladder runs: disputes, and levels reached late."""
    disputes: int = 0
    dispute: OpenDispute | None = None
    promises: int = 0
    promise: PaymentPromise | None = None
    broken_promise: date | None = None
    """A promise broken since the last email, which the next one mentions."""
    accountant: Person | None = None
    next_action: str = ""
    next_action_at: datetime | None = None


@dataclass
class InvoiceDunningInput:
    invoice_id: int
    number: str
    account_id: int
    customer: str
    billing_email: str
    currency: str
    total: Decimal
    """The invoiced lines' total."""
    due_on: date
    policy: DunningPolicy = field(default_factory=DunningPolicy)
    accountant: Person | None = None
    """Who issued it by hand: the tasks about it are theirs (else the first accountant's)."""
    notify_process_id: str | None = None
    carried: DunningState | None = None
    """The state of the previous run, when the process continued as new."""


@dataclass
class DunningResult:
    status: str
    balance: Decimal


@dataclass
class PaymentReceived:
    amount: Decimal
    reference: str
    by_user_id: int | None = None
    by_role: str = Role.INTEGRATION


@dataclass
class DisputeRaised:
    reason: str
    by_user_id: int | None = None
    by_role: str = Role.INTEGRATION


@dataclass
class DisputeDecision:
    """An accountant resolves the dispute (the API's way; a ticket signals DISPUTE_RESOLVED)."""

    upheld: bool
    note: str
    by_user_id: int
    by_role: str


@dataclass
class PromiseToPay:
    pay_by: date
    by_user_id: int | None = None
    by_role: str = Role.INTEGRATION


@dataclass
class WriteOff:
    reason: str
    by_user_id: int
    by_role: str
