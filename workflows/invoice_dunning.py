"""Invoice dunning: from an issued invoice to paid, credited or written off (``invoice-{id}``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows import steps
from workflows.contracts import (
    FIND_PEOPLE,
    OPEN_DISPUTE_TICKET,
    DisputeToRaise,
    EmailToSend,
    PeopleToFind,
    Person,
    RaisedDispute,
    StartOptions,
    TaskToCreate,
)
from workflows.dunning_contracts import (
    RECORD_PAYMENT,
    UPDATE_INVOICE,
    InvoiceUpdate,
    PaymentToRecord,
)
from workflows.dunning_ladder import cents, day_start, level_title, money
from workflows.dunning_types import (
    DisputeDecision,
    DisputeRaised,
    DunningResult,
    DunningState,
    InvoiceDunningInput,
    OpenDispute,
    PaymentPromise,
    PaymentReceived,
    PromiseToPay,
    ReceivedPayment,
    WriteOff,
)
from workflows.lifecycle import Lifecycle
from workflows.messages import (
    DISPUTE_RESOLVED,
    INVOICE_SETTLED,
    DisputeResolution,
    InvoiceSettled,
)
from workflows.planned_change import Change, PlannedChanges
from workflows.refusals import MISSING_INFORMATION, NOT_ALLOWED, WRONG_STATUS, refuse
from workflows.roles import Role
from workflows.search_attributes import CRM_AMOUNT

TRANSITIONS: dict[str, tuple[str, ...]] = {
    "open": ("open", "overdue", "disputed", "promised", "paid", "written_off"),
    "overdue": ("overdue", "disputed", "promised", "in_collections", "paid", "written_off"),
    "promised": ("promised", "open", "overdue", "disputed", "paid", "written_off"),
    "disputed": ("disputed", "open", "overdue", "credited", "paid", "written_off"),
    "in_collections": ("in_collections", "paid", "written_off"),
}
"""An invoice's statuses and where each may go; paid, written_off and credited are final.
A status that goes to itself records a business event in it: a level reached, a payment."""
DUNNED = ("open", "overdue")
"""The ladder runs in these; a promise suspends it, a dispute pauses it."""
MAY_PAY = (Role.ACCOUNTANT, Role.ADMIN, Role.INTEGRATION)
MAY_DISPUTE = MAY_PROMISE = MAY_PAY
MAY_DECIDE = (Role.ACCOUNTANT, Role.ADMIN)
"""Who resolves a dispute and writes an invoice off."""
TASK_DUE = timedelta(days=2)


@dataclass
class _Step:
    kind: Literal["overdue", "level", "promise_ends"]
    at: datetime
    what: str


def start_options(invoice: InvoiceDunningInput) -> StartOptions:
    """How the process shows in the Temporal UI from its start."""
    return StartOptions(
        summary=f"Invoice {invoice.number} to {invoice.customer} — "
                f"{money(invoice.total, invoice.currency)}, due {invoice.due_on}",
        details=f"Invoice {invoice.invoice_id} to <{invoice.billing_email}>; "
                f"dunning policy: {invoice.policy}",
        status="open",
        customer_id=invoice.account_id,
        amount=invoice.total,
    )


@workflow.defn
class InvoiceDunning:
    """Get an invoice paid without anyone chasing it by hand.

    The process waits for the due date while payments, full or partial, may arrive at any
    moment; what counts is the open balance (lines and late fee, less payments and credit).
    On an unpaid balance it climbs the invoice's ladder: each level, at its offset from the
    due date, sends its email (every one states the open balance and how to pay, and
    acknowledges the payments since the last), adds the late fee once, asks an accountant
    to call, or hands the invoice to collections (no more emails).

    A dispute pauses the ladder and opens a ticket about it; upheld, the open balance is
    credited and the invoice closed; rejected, the ladder resumes where it was, its
    remaining delays kept. A promise to pay suspends the ladder until the promised day plus
    ``promise_grace``; broken, the ladder resumes at once and the next email says so. Paid
    in full, the customer is thanked; an accountant may write the invoice off instead. A
    level that comes late (after a promise) pushes the rest of the ladder back by as much.

    Every status change, level reached, payment, dispute and promise is recorded in the
    CRM's history under its own business event, taken in memory first: a payment and a
    ladder step take turns, and no email, task or ticket goes out before every message in
    hand has been applied — never a reminder for a paid invoice. The process that issued
    the invoice hears when it is settled. Long-lived invoices continue as new.
    """

    @workflow.init
    def __init__(self, invoice: InvoiceDunningInput) -> None:
        self.invoice = invoice
        self.policy = invoice.policy
        self.state = invoice.carried or DunningState(accountant=invoice.accountant)
        self.lifecycle = Lifecycle("invoice", invoice.invoice_id, TRANSITIONS,
                                   status=self.state.status, on_change=self._changed)
        self.lifecycle.last.reason = self.state.status_reason
        self.changes = PlannedChanges(self.lifecycle)
        self.timeline = steps.Timeline()
        self._unrecorded: set[str] = set()
        self._shown_balance = self.state.balance if invoice.carried else invoice.total

    @workflow.run
    async def run(self, invoice: InvoiceDunningInput) -> DunningResult:
        while not self.lifecycle.final:
            if workflow.info().is_continue_as_new_suggested():
                await self._continue_as_new()
            await self._raise_dispute()
            if self.lifecycle.final:
                break  # resolved while its ticket was being opened
            await self._follow_the_ladder()
        await self._close()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return DunningResult(self.lifecycle.status, self._owed)

    # The ladder -----------------------------------------------------------------------

    async def _follow_the_ladder(self) -> None:
        """Wait for the next step and take it; return early when something changed."""
        step = self._next_step()
        self._expect(step)
        seen = self.changes.count
        if step is None:
            await workflow.wait_condition(lambda: self.changes.count != seen)
            return
        if await self.timeline.wait_for(step.at, lambda: self.changes.count != seen,
                                        f"Wait until {step.at:%Y-%m-%d} for {step.what}"):
            return
        if step.kind == "overdue":
            await self._become_overdue()
        elif step.kind == "promise_ends":
            await self._break_promise()
        else:
            await self._reach_level(self.state.level_reached, step.at)

    def _next_step(self) -> _Step | None:
        promise = self.state.promise
        if self.lifecycle.status == "promised" and promise is not None:
            return _Step("promise_ends", promise.until,
                         f"the promise to pay by {promise.pay_by} to run out")
        if self.lifecycle.status not in DUNNED:
            return None
        candidates = []
        if self.lifecycle.status == "open":
            candidates.append(_Step("overdue", self._overdue_at, "the due date to pass"))
        n = self.state.level_reached
        if n < len(self.policy.levels):
            candidates.append(_Step("level", self._level_at(n),
                                    level_title(self.policy.levels, n).lower()))
        return min(candidates, key=lambda step: step.at, default=None)

    async def _become_overdue(self) -> None:
        def plan() -> Change | None:
            if self.lifecycle.status != "open" or self.timeline.now() < self._overdue_at:
                return None
            return Change("overdue", f"not paid by its due date {self.invoice.due_on}: "
                                      f"{self._money(self._owed)} open", "due")

        async with self.changes.make(plan):
            pass

    async def _reach_level(self, n: int, due_at: datetime) -> None:
        """Take level ``n``, found due at ``due_at``, unless the ladder moved meanwhile; a
        level that comes late pushes the rest of the ladder back by as much.

        Whether it is due is the caller's finding (its timer fired), never a comparison of
        ``workflow.now()`` with the schedule (see ``steps.Timeline``)."""
        level = self.policy.levels[n]
        title = level_title(self.policy.levels, n)
        fee = self.policy.late_fee(self.invoice.total) if "late_fee" in level.actions else None

        def plan() -> Change | None:
            if (self.lifecycle.status not in DUNNED or self.state.level_reached != n
                    or self._level_at(n) != due_at):
                return None
            to = "in_collections" if "collections" in level.actions else self.lifecycle.status
            owed = self._owed + (fee or 0)
            with_fee = f"; late fee {self._money(fee)}" if fee else ""
            return Change(to, f"{title}: {self._money(owed)} open, {self._lateness()}"
                               f"{with_fee}", f"level_{n + 1}")

        async with self.changes.make(plan) as moving:
            if not moving:
                return
            self.state.level_reached = n + 1
            if fee:
                self.state.late_fee = fee
            # How late it came, by the time Temporal scheduled its write: kept in the
            # history, so the same in the run and in every replay.
            decided_at = await self._record_invoice()
            self.state.pushed_back += max(decided_at - due_at, timedelta(0))
        if "collections" in level.actions:
            await self._task("collections", f"Hand invoice {self.invoice.number} of "
                             f"{self.invoice.customer} to collections", f"level_{n + 1}",
                             "in_collections")
        if "task" in level.actions:
            await self._task("dunning_call", f"Call {self.invoice.customer} about invoice "
                             f"{self.invoice.number}", f"level_{n + 1}", *DUNNED)
        if "email" in level.actions and await self._still(*DUNNED):
            await self._dunning_email(n, title)

    async def _dunning_email(self, n: int, title: str) -> None:
        level = self.policy.levels[n]
        assert level.template is not None
        told = self.state.payments[self.state.payments_told:]
        broken = self.state.broken_promise
        self.state.payments_told, self.state.broken_promise = len(self.state.payments), None
        await self._email(
            level.template, purpose=f"level_{n + 1}",
            summary=f"{title} to {self.invoice.customer}: {self._money(self._owed)} open, "
                    f"{self._lateness()}",
            title=title,
            lateness=self._lateness(),
            late_fee=self._money(self.state.late_fee) if "late_fee" in level.actions else None,
            payments=[{"amount": self._money(p.amount),
                       "received_on": p.received_at.date().isoformat()}
                      for p in told],
            broken_promise=broken.isoformat() if broken else None,
        )

    # Payments ------------------------------------------------------------------------

    @workflow.update
    async def record_payment(self, payment: PaymentReceived) -> ReceivedPayment:
        """A payment, full or partial: counted once per reference, answered once recorded."""
        async with self.changes.make(lambda: self._payment_change(payment)) as moving:
            if moving:
                received = ReceivedPayment(payment.reference, cents(payment.amount),
                                           workflow.now(), self._owed - payment.amount,
                                           payment.by_user_id)
                self.state.paid += received.amount
                self.state.payments.append(received)
                self._unrecorded.add(received.reference)
                await steps.write(
                    RECORD_PAYMENT,
                    PaymentToRecord(self.invoice.invoice_id, received.reference,
                                    received.amount, received.received_at,
                                    received.balance_after, received.by_user_id),
                    summary=f"Record payment {received.reference} of "
                            f"{self._money(received.amount)} on invoice {self.invoice.number}",
                )
                self._unrecorded.discard(received.reference)
                if self.lifecycle.final:
                    await self._record_invoice()
        earlier = self._payment(payment.reference)
        assert earlier is not None
        await workflow.wait_condition(lambda: earlier.reference not in self._unrecorded)
        return earlier

    @record_payment.validator
    def _may_record_payment(self, payment: PaymentReceived) -> None:
        if payment.by_role not in MAY_PAY:
            refuse(NOT_ALLOWED, "only accountants, admins and the payment provider record "
                                "payments")
        self._payment_change(payment)

    def _payment_change(self, payment: PaymentReceived) -> Change | None:
        """The change a payment makes, or None for one already counted; refused when the
        amount is not what the invoice can take."""
        earlier = self._payment(payment.reference)
        if earlier is not None:
            if earlier.amount != payment.amount:
                refuse(WRONG_STATUS, f"payment {payment.reference} was recorded as "
                                     f"{self._money(earlier.amount)}: one reference, one payment")
            return None
        if self.lifecycle.final:
            self.lifecycle.refuse("take a payment")
        amount, owed = payment.amount, self._owed
        if amount <= 0 or amount != cents(amount):
            refuse(WRONG_STATUS, f"a payment is an amount in cents above zero, not {amount}")
        if amount > owed:
            refuse(WRONG_STATUS, f"invoice {self.invoice.invoice_id} has {self._money(owed)} "
                                 f"open: a payment of {self._money(amount)} is more than is owed")
        event = f"payment_{len(self.state.payments) + 1}"
        if amount == owed:
            return Change("paid", f"paid in full: payment {payment.reference} of "
                                   f"{self._money(amount)}", event, payment.by_user_id)
        return Change(self.lifecycle.status, f"payment {payment.reference} of "
                                              f"{self._money(amount)}: "
                                              f"{self._money(owed - amount)} open",
                       event, payment.by_user_id)

    def _payment(self, reference: str) -> ReceivedPayment | None:
        return next((p for p in self.state.payments if p.reference == reference), None)

    # Disputes ------------------------------------------------------------------------

    @workflow.update
    async def dispute(self, dispute: DisputeRaised) -> DunningState:
        """The customer contests the invoice: the ladder pauses, a ticket opens about it."""
        async with self.changes.make(lambda: self._dispute_change(dispute)) as moving:
            if moving:
                self.state.disputes += 1
                open_dispute = OpenDispute(self.state.disputes, dispute.reason,
                                           workflow.now(), dispute.by_user_id)
                self.state.dispute = open_dispute
                if self.state.promise is not None:  # the dispute replaces the promise
                    self.state.promise = None
                    await self._record_invoice()
        if moving:  # the ladder's pause counts from when the history recorded the dispute
            open_dispute.since = self._recorded_at()
        return self._snapshot()

    @dispute.validator
    def _may_dispute(self, dispute: DisputeRaised) -> None:
        if dispute.by_role not in MAY_DISPUTE:
            refuse(NOT_ALLOWED, "only the customer (through the website), accountants and "
                                "admins dispute an invoice")
        self._dispute_change(dispute)

    def _dispute_change(self, dispute: DisputeRaised) -> Change:
        if self.lifecycle.status not in ("open", "overdue", "promised"):
            self.lifecycle.refuse(
                "be disputed", "only an open, overdue or promised invoice can")
        if not dispute.reason.strip():
            refuse(MISSING_INFORMATION, "a dispute needs its reason", missing=["reason"])
        return Change("disputed", f"disputed: {dispute.reason}",
                       f"dispute_{self.state.disputes + 1}", dispute.by_user_id)

    async def _raise_dispute(self) -> None:
        """Open the ticket about a new dispute, while it is still open."""
        dispute = self.state.dispute
        if dispute is None or dispute.raised:
            return
        await self._quiet()
        if self.state.dispute is not dispute or self.lifecycle.status != "disputed":
            return
        raised: RaisedDispute = await workflow.execute_activity(
            OPEN_DISPUTE_TICKET,
            DisputeToRaise(self.invoice.invoice_id, self.invoice.account_id, dispute.reason,
                           dispute.by_user_id),
            result_type=RaisedDispute,
            start_to_close_timeout=steps.DATABASE_READ,
            retry_policy=steps.RETRY_FOREVER_GENTLY,
            summary=f"Open a ticket about the dispute of invoice {self.invoice.number}: "
                    f"{dispute.reason}"[:200],
        )
        dispute.raised, dispute.ticket_id, dispute.task_id = True, raised.ticket_id, raised.task_id

    @workflow.update
    async def resolve_dispute(self, decision: DisputeDecision) -> DunningState:
        """An accountant resolves the dispute: upheld (credited), or rejected (dunning goes on)."""
        await self._resolve(DisputeResolution(decision.upheld, decision.note,
                                              decision.by_user_id))
        return self._snapshot()

    @resolve_dispute.validator
    def _may_resolve_dispute(self, decision: DisputeDecision) -> None:
        if decision.by_role not in MAY_DECIDE:
            refuse(NOT_ALLOWED, "only accountants and admins resolve a dispute")
        self._resolution_change(DisputeResolution(decision.upheld, decision.note))

    @workflow.signal(name=DISPUTE_RESOLVED)
    async def dispute_resolved(self, resolution: DisputeResolution) -> None:
        """The ticket about the dispute was resolved; a resolution that no longer applies is
        noted and ignored."""
        try:
            await self._resolve(resolution)
        except ApplicationError as refusal:
            workflow.logger.warning("dispute resolution not applied: %s", refusal.message)

    async def _resolve(self, resolution: DisputeResolution) -> None:
        async with self.changes.make(lambda: self._resolution_change(resolution)) as moving:
            if not moving:
                return
            dispute, self.state.dispute = self.state.dispute, None
            assert dispute is not None
            if resolution.upheld:
                self.state.credited += self._owed
                await self._record_invoice()
        if not resolution.upheld:  # the ladder resumes, pushed back by the pause
            self.state.pushed_back += self._recorded_at() - dispute.since
            self._expect(self._next_step())

    def _resolution_change(self, resolution: DisputeResolution) -> Change:
        dispute = self.state.dispute
        if self.lifecycle.status != "disputed" or dispute is None:
            self.lifecycle.refuse(
                "have a dispute resolved", "only a disputed invoice can")
        if resolution.ticket_id and dispute.ticket_id and resolution.ticket_id != dispute.ticket_id:
            refuse(WRONG_STATUS, f"ticket {resolution.ticket_id} is not about the open dispute "
                                 f"of invoice {self.invoice.invoice_id}")
        event = f"dispute_{dispute.number}"
        if resolution.upheld:
            return Change("credited", f"dispute upheld: {resolution.note}; "
                                       f"{self._money(self._owed)} credited",
                           event, resolution.by_user_id)
        return Change(self._ladder_status, f"dispute rejected: {resolution.note}", event,
                       resolution.by_user_id)

    # Promises and write-offs ---------------------------------------------------------

    @workflow.update
    async def promise_to_pay(self, promise: PromiseToPay) -> DunningState:
        """The customer promises to pay by a date: the ladder waits until then plus grace."""
        async with self.changes.make(lambda: self._promise_change(promise)) as moving:
            if moving:
                self.state.promises += 1
                until = day_start(promise.pay_by) + timedelta(days=1) + self.policy.promise_grace
                self.state.promise = PaymentPromise(self.state.promises, promise.pay_by, until)
                await self._record_invoice()
        return self._snapshot()

    @promise_to_pay.validator
    def _may_promise(self, promise: PromiseToPay) -> None:
        if promise.by_role not in MAY_PROMISE:
            refuse(NOT_ALLOWED, "only the customer (through the website), accountants and "
                                "admins record a promise to pay")
        self._promise_change(promise)
        today = workflow.now().date()  # a validator runs once, never on replay
        if promise.pay_by < today:
            refuse(WRONG_STATUS, f"a promise to pay by {promise.pay_by} is in the past "
                                 f"(today is {today})")

    def _promise_change(self, promise: PromiseToPay) -> Change:
        if self.lifecycle.status not in ("open", "overdue", "promised"):
            self.lifecycle.refuse(
                "take a promise to pay", "only an open, overdue or promised invoice can")
        return Change("promised", f"promised to pay by {promise.pay_by}",
                       f"promise_{self.state.promises + 1}", promise.by_user_id)

    async def _break_promise(self) -> None:
        promise = self.state.promise

        def plan() -> Change | None:
            if (self.lifecycle.status != "promised" or self.state.promise is not promise
                    or promise is None or self.timeline.now() < promise.until):
                return None
            return Change(self._ladder_status, f"promise to pay by {promise.pay_by} broken: "
                                                f"{self._money(self._owed)} open",
                           f"promise_{promise.number}")

        async with self.changes.make(plan) as moving:
            if moving:
                assert promise is not None
                self.state.broken_promise, self.state.promise = promise.pay_by, None
                await self._record_invoice()

    @workflow.update
    async def write_off(self, write_off: WriteOff) -> DunningState:
        """An accountant gives up on the open balance: the invoice is closed."""
        async with self.changes.make(lambda: self._write_off_change(write_off)) as moving:
            if moving:
                await self._record_invoice()
        return self._snapshot()

    @write_off.validator
    def _may_write_off(self, write_off: WriteOff) -> None:
        if write_off.by_role not in MAY_DECIDE:
            refuse(NOT_ALLOWED, "only accountants and admins write an invoice off")
        self._write_off_change(write_off)

    def _write_off_change(self, write_off: WriteOff) -> Change:
        if self.lifecycle.final:
            self.lifecycle.refuse("be written off")
        if not write_off.reason.strip():
            refuse(MISSING_INFORMATION, "a write-off needs its reason", missing=["reason"])
        return Change("written_off", f"written off: {write_off.reason} "
                                      f"({self._money(self._owed)} open)",
                       "write_off", write_off.by_user_id)

    @workflow.query(name="state")
    def current_state(self) -> DunningState:
        return self._snapshot()

    # The end ---------------------------------------------------------------------------

    async def _close(self) -> None:
        """Thank the customer or tell them of the credit; tell the issuing process."""
        await self._quiet()
        status = self.lifecycle.status
        if status == "paid":
            await self._email("dunning_thank_you", purpose="paid",
                              summary=f"Thank {self.invoice.customer} for paying invoice "
                                      f"{self.invoice.number}",
                              paid=self._money(self.state.paid))
        elif status == "credited":
            await self._email("dunning_credited", purpose="credited",
                              summary=f"Tell {self.invoice.customer} invoice "
                                      f"{self.invoice.number} is credited",
                              credited=self._money(self.state.credited))
        if self.invoice.notify_process_id is None:
            return
        issuer = workflow.get_external_workflow_handle(self.invoice.notify_process_id)
        try:
            await issuer.signal(INVOICE_SETTLED, InvoiceSettled(self.invoice.invoice_id, status))
        except ApplicationError:
            workflow.logger.info("the issuing process %s has ended: not told",
                                 self.invoice.notify_process_id)

    async def _continue_as_new(self) -> None:
        """A long history slows every replay: start afresh with the same state and policy."""
        await self._quiet()
        workflow.continue_as_new(dataclasses.replace(self.invoice, carried=self._snapshot()))

    # Helpers -------------------------------------------------------------------------

    def _changed(self) -> None:
        """After every recorded change: show it, the balance included."""
        self.changes.recorded()
        if self._owed != self._shown_balance:
            self._shown_balance = self._owed
            workflow.upsert_search_attributes([CRM_AMOUNT.value_set(float(self._owed))])
        self._expect(self._next_step())

    async def _quiet(self) -> None:
        """Wait until every message in hand has been applied and recorded: what follows is
        decided on the invoice as it stands (never a reminder for a paid invoice)."""
        await workflow.wait_condition(
            lambda: workflow.all_handlers_finished() and self.lifecycle.settled)

    async def _still(self, *statuses: str) -> bool:
        """Whether, every message in hand applied, the invoice is owed and in one of these.
        Call it right before the side effect it allows, with no await in between."""
        await self._quiet()
        return self.lifecycle.status in statuses and self._owed > 0

    async def _record_invoice(self) -> datetime:
        """Write the invoice's dunning facts to the CRM (part of the change under way): when
        Temporal scheduled the write."""
        promise = self.state.promise
        return await steps.write(
            UPDATE_INVOICE,
            InvoiceUpdate(
                invoice_id=self.invoice.invoice_id,
                level_reached=self.state.level_reached,
                late_fee=self.state.late_fee,
                late_fee_line=f"Late fee (unpaid after {self.invoice.due_on})",
                promised_on=promise.pay_by if promise else None,
                credited=self.state.credited,
                closed_at=workflow.now() if self.lifecycle.final else None,
            ),
            result_type=datetime,
            summary=f"Invoice {self.invoice.number}: {self.lifecycle.status}, level "
                    f"{self.state.level_reached}, {self._money(self._owed)} open",
        )

    async def _task(self, kind: str, title: str, purpose: str, *statuses: str) -> None:
        accountant = await self._accountant()
        if not await self._still(*statuses):
            return
        await steps.create_task(TaskToCreate(
            kind=kind,
            title=f"{title}: {self._money(self._owed)} open, {self._lateness()}",
            purpose=f"{purpose}:{kind}",
            assignee_id=accountant.user_id if accountant else None,
            due_at=workflow.now() + TASK_DUE,
            related_type="invoice",
            related_id=self.invoice.invoice_id,
        ))

    async def _accountant(self) -> Person | None:
        if self.state.accountant is None:
            found = await workflow.execute_local_activity(
                FIND_PEOPLE,
                PeopleToFind([Role.ACCOUNTANT.value]),
                result_type=list[Person],
                start_to_close_timeout=steps.DATABASE_READ,
                retry_policy=steps.RETRY_FOREVER_GENTLY,
                summary="Find the accountant who follows the invoice",
            )
            self.state.accountant = found[0] if found else None
        return self.state.accountant

    async def _email(self, template: str, *, purpose: str, summary: str,
                     **context: object) -> None:
        invoice = self.invoice
        await steps.send_email(
            EmailToSend(
                to=invoice.billing_email,
                template=template,
                purpose=purpose,
                context={
                    "customer": invoice.customer,
                    "number": invoice.number,
                    "due_on": invoice.due_on.isoformat(),
                    "total": self._money(invoice.total + self.state.late_fee),
                    "balance": self._money(self._owed),
                    **context,
                },
                related_type="invoice",
                related_id=invoice.invoice_id,
            ),
            summary=summary,
        )

    @property
    def _owed(self) -> Decimal:
        s = self.state
        return cents(self.invoice.total + s.late_fee - s.paid - s.credited)

    @property
    def _overdue_at(self) -> datetime:
        """The due date is the last day to pay: the invoice is overdue when it has passed."""
        return day_start(self.invoice.due_on) + timedelta(days=1)

    @property
    def _ladder_status(self) -> str:
        """Where the ladder resumes: overdue, or open while the due date has not passed by
        the timeline (a due date passed meanwhile is then the ladder's next step)."""
        return "overdue" if self.timeline.now() >= self._overdue_at else "open"

    def _recorded_at(self) -> datetime:
        """When the change just made was recorded, by the history."""
        recorded_at = self.lifecycle.last.at
        assert recorded_at is not None
        return recorded_at

    def _level_at(self, n: int) -> datetime:
        offset = self.policy.levels[n].offset
        return day_start(self.invoice.due_on) + offset + self.state.pushed_back

    def _lateness(self) -> str:
        days = (workflow.now() - day_start(self.invoice.due_on)).days
        if days > 0:
            return f"{days} day{'s' if days != 1 else ''} late"
        return f"due in {-days} day{'s' if days != -1 else ''}" if days else "due today"

    def _money(self, amount: Decimal) -> str:
        return money(amount, self.invoice.currency)

    def _snapshot(self) -> DunningState:
        return dataclasses.replace(self.state, status=self.lifecycle.status,
                                   status_reason=self.lifecycle.last.reason,
                                   balance=self._owed)

    def _expect(self, step: _Step | None) -> None:
        """Note the next action and its date, for the API and the Temporal UI (nothing once
        the invoice is settled)."""
        self.state.next_action = step.what if step else "" if self.lifecycle.final else {
            "disputed": "the dispute to be resolved",
            "in_collections": "payment or a write-off (with collections)",
        }.get(self.lifecycle.status, "payment")
        self.state.next_action_at = step.at if step else None
        self._show()

    def _show(self) -> None:
        """What the Temporal UI says this process is doing now."""
        invoice, status = self.invoice, self.lifecycle.status
        about = f"Invoice {invoice.number} for {invoice.customer}"
        if self.lifecycle.final:
            workflow.set_current_details(f"{about}: {status} ({self.lifecycle.last.reason})")
            return
        when = f" on {self.state.next_action_at:%Y-%m-%d}" if self.state.next_action_at else ""
        workflow.set_current_details(f"{about} ({status}, {self._money(self._owed)} open): "
                                     f"waiting for {self.state.next_action}{when}")
