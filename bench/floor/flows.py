"""The floor's processes: a lead waiting between nurturing emails, a quote from submission
to won. One activity per step (``floor_step``: the status and the email it causes); the
decisions are updates whose handlers run that step and answer once it holds.

Only ``temporalio`` and ``dataclasses`` are imported: the sandbox re-imports this module
for every workflow, as it does crmflow's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

STEP = "floor_step"
TASK_QUEUE = "floor"
STEP_TIMEOUT = timedelta(seconds=60)
HEARTBEAT = timedelta(seconds=10)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10))


@dataclass
class Email:
    purpose: str
    to: str
    subject: str
    body: str


@dataclass
class Sale:
    lead_id: int
    account_id: int | None
    owner_id: int
    team_id: int | None
    amount: float


@dataclass
class Step:
    """One CRM step: the object's new status (with its history row) and the email it causes,
    each once however often retried."""

    workflow_id: str
    object_type: str
    object_id: int
    to_status: str | None = None
    from_status: str | None = None
    actor: str = "process"
    actor_user_id: int | None = None
    email: Email | None = None
    sale: Sale | None = None
    """A won quote's sale."""


async def step(s: Step) -> None:
    await workflow.execute_activity(STEP, s, start_to_close_timeout=STEP_TIMEOUT,
                                    heartbeat_timeout=HEARTBEAT, retry_policy=RETRY)


@dataclass
class LeadIn:
    lead_id: int
    name: str
    email: str
    step_delay_seconds: float


@workflow.defn
class FloorLead:
    """A new lead: nurturing (status and welcome email in one step), then a nurturing email
    every ``step_delay``."""

    @workflow.run
    async def run(self, lead: LeadIn) -> None:
        wid = workflow.info().workflow_id
        await step(Step(wid, "lead", lead.lead_id, "nurturing", "new", email=Email(
            "welcome", lead.email, f"Welcome, {lead.name}",
            f"Hello {lead.name},\n\nthank you for signing up.\n")))
        sent = 0
        while True:
            await workflow.sleep(timedelta(seconds=lead.step_delay_seconds))
            sent += 1
            await step(Step(wid, "lead", lead.lead_id, email=Email(
                f"nurture_{sent}", lead.email, "News for you", "Our latest case study.\n")))


@dataclass
class QuoteIn:
    quote_id: int
    lead_id: int
    account_id: int | None
    author_id: int
    author_email: str
    team_id: int | None
    manager_email: str
    customer_email: str
    discount_pct: float
    total: float
    threshold_pct: float = 20.0
    reminder_seconds: float = 86400.0


@dataclass
class DecisionIn:
    approve: bool
    by_user_id: int
    comment: str = ""


@dataclass
class QuoteState:
    status: str = "submitted"
    reminders: int = 0
    moving_to: str = ""
    """The status a step under way is writing: no other decision meanwhile."""


@workflow.defn
class FloorQuote:
    """A submitted quote: validated at once under the discount threshold, else pending
    approval (the manager asked, then reminded every period) until decided; then sent,
    then accepted (won: the sale) or declined."""

    @workflow.init
    def __init__(self, quote: QuoteIn) -> None:
        self.q = quote
        self.s = QuoteState()
        self.wid = workflow.info().workflow_id

    async def _move(self, to: str, email: Email | None = None, *, by: int | None = None,
                    sale: Sale | None = None) -> str:
        self.s.moving_to = to
        await step(Step(self.wid, "quote", self.q.quote_id, to, self.s.status,
                        "user" if by else "process", by, email, sale))
        self.s.status, self.s.moving_to = to, ""
        return to

    def _must_be(self, status: str) -> None:
        if self.s.moving_to or self.s.status != status:
            raise ApplicationError(f"the quote is {self.s.moving_to or self.s.status}",
                                   type="WrongStatus")

    @workflow.run
    async def run(self, quote: QuoteIn) -> str:
        if quote.discount_pct <= quote.threshold_pct:
            await self._move("validated")
        else:
            await self._move("pending_approval", Email(
                "approval_request", quote.manager_email, f"Quote {quote.quote_id} to approve",
                f"Quote {quote.quote_id} has a {quote.discount_pct:g} % discount.\n"))
            while self.s.status == "pending_approval":
                try:
                    await workflow.wait_condition(
                        lambda: self.s.status != "pending_approval",
                        timeout=timedelta(seconds=quote.reminder_seconds))
                except TimeoutError:
                    self.s.reminders += 1
                    await step(Step(self.wid, "quote", quote.quote_id, email=Email(
                        f"approval_reminder_{self.s.reminders}", quote.manager_email,
                        f"Reminder: quote {quote.quote_id} to approve", "It still waits.\n")))
        await workflow.wait_condition(
            lambda: self.s.status in ("won", "lost", "rejected"))
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.s.status

    @workflow.update
    async def outcome(self) -> str:
        """The status once the submission is checked (validated or pending approval)."""
        await workflow.wait_condition(lambda: self.s.status != "submitted")
        return self.s.status

    @workflow.update
    async def decide(self, decision: DecisionIn) -> str:
        verdict = "validated" if decision.approve else "rejected"
        return await self._move(verdict, Email(
            "decision", self.q.author_email, f"Quote {self.q.quote_id} {verdict}",
            decision.comment or verdict), by=decision.by_user_id)

    @decide.validator
    def _may_decide(self, decision: DecisionIn) -> None:
        if decision.by_user_id == self.q.author_id:
            raise ApplicationError("the author cannot decide on their own quote",
                                   type="NotAllowed")
        self._must_be("pending_approval")

    @workflow.update
    async def send(self, by_user_id: int) -> str:
        return await self._move("sent", Email(
            "quote", self.q.customer_email, f"Your quote {self.q.quote_id}",
            f"Total: {self.q.total:.2f} EUR\n"), by=by_user_id)

    @send.validator
    def _may_send(self, by_user_id: int) -> None:
        self._must_be("validated")

    @workflow.update
    async def answer(self, accepted: bool) -> str:
        if not accepted:
            return await self._move("lost")
        return await self._move("won", Email(
            "won", self.q.author_email, f"Quote {self.q.quote_id} won", "A sale.\n"),
            sale=Sale(self.q.lead_id, self.q.account_id, self.q.author_id, self.q.team_id,
                      self.q.total))

    @answer.validator
    def _may_answer(self, accepted: bool) -> None:
        self._must_be("sent")


WORKFLOWS = [FloorLead, FloorQuote]
