"""Quote approval: from submission to won, lost or expired (workflow id ``quote-{id}``)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from workflows import steps
from workflows.contracts import (
    CREATE_SALE,
    FIND_PEOPLE,
    START_PROJECT,
    CreatedSale,
    EmailToSend,
    PeopleToFind,
    Person,
    ProjectToStart,
    SaleToCreate,
    StartedProject,
    StartOptions,
)
from workflows.lifecycle import Lifecycle, StatusChange
from workflows.messages import QUOTE_PROGRESS, QuoteProgress, lead_process_id
from workflows.quote_types import (
    CustomerResponse,
    ManagerDecision,
    QuoteApprovalInput,
    QuoteApprovalPolicy,  # noqa: F401 (re-exported: defined here before)
    QuotedLine,  # noqa: F401 (re-exported: defined here before)
    QuoteResult,
    QuoteSending,
    QuoteState,
)
from workflows.refusals import MISSING_INFORMATION, NOT_ALLOWED, refuse
from workflows.roles import Role

AWAITING_DECISION = ("pending_approval", "escalated")
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "submitted": ("validated", "pending_approval"),
    "pending_approval": ("validated", "rejected", "escalated"),
    "escalated": ("validated", "rejected"),
    "validated": ("sent", "expired"),
    "sent": ("won", "lost", "expired"),
}
"""A submission's statuses and where each may go; rejected, won, lost, expired are final."""
MAY_SEND = (Role.SALES_REP, Role.SALES_MANAGER, Role.ADMIN)


def start_options(quote: QuoteApprovalInput) -> StartOptions:
    """How the process shows in the Temporal UI from its start."""
    return StartOptions(
        summary=f"Quote {quote.quote_id} for {quote.customer} — "
                f"{steps.plain(quote.discount_pct)} % discount, {quote.total} {quote.currency}"
                f" (submission {quote.submission})",
        status="submitted",
        customer_id=quote.customer_id,
        owner=quote.author.user_id,
        amount=quote.total,
    )


@workflow.defn
class QuoteApproval:
    """Approve a submitted quote, send it, and follow it to the customer's answer.

    A discount up to ``discount_threshold_pct`` is validated at once. Above it the quote
    waits for management approval, locked for its author: every manager of the team gets a
    request, then a reminder every ``reminder_every``; a manager who is not the author
    approves or rejects it with a comment. Still pending after ``approval_timeout``, the
    quote follows ``on_timeout``: validated (the rule of the source material), rejected, or
    escalated to the admins for another ``approval_timeout``, after which it is rejected.
    Whichever comes first — the decision or the rule — wins; the other is refused, saying so.

    A rejected quote goes back to its author, who may change it and submit it again (a new
    run). Only a validated quote can be sent; it must be sent within ``quote_validity``, and
    the customer then has ``quote_validity`` to accept (won: a sale is created and the lead's
    process learns it) or decline (lost); silence makes it expired. Each decision is answered
    as soon as it is recorded; the emails it causes follow. The author hears the outcome.
    """

    @workflow.init
    def __init__(self, quote: QuoteApprovalInput) -> None:
        self.quote = quote
        self.policy = quote.policy
        self.state = QuoteState(submission=quote.submission)
        self.lifecycle = Lifecycle("quote", quote.quote_id, TRANSITIONS, status="submitted",
                                   event_prefix=f"submission_{quote.submission}:",
                                   on_change=self._show)
        self._decision: StatusChange | None = None
        """A manager's decision, as taken (the quote may move on before the author is told)."""
        self.timeline = steps.Timeline()

    @workflow.run
    async def run(self, quote: QuoteApprovalInput) -> QuoteResult:
        await self._tell_lead()
        threshold = self.policy.discount_threshold_pct
        if quote.discount_pct <= threshold:
            await self.lifecycle.move(
                "validated",
                f"discount {steps.plain(quote.discount_pct)} % within the "
                f"{steps.plain(threshold)} % threshold",
            )
        else:
            await self._seek_approval()
        if self.lifecycle.status not in ("rejected", "expired"):
            await self._offer_to_customer()
            if self.lifecycle.status == "won":
                await self._start_project()
            await self._email(self.quote.author, "quote_outcome", purpose="outcome",
                              summary=f"Tell {self.quote.author.name} the quote is "
                                      f"{self.lifecycle.status}",
                              outcome=self.lifecycle.status)
        await self._tell_lead()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return QuoteResult(self.lifecycle.status, self.state.sale_id)

    # Management approval ---------------------------------------------------------------

    async def _seek_approval(self) -> None:
        self._waiting_for("a manager's decision")
        await self.lifecycle.move(
            "pending_approval",
            f"discount {steps.plain(self.quote.discount_pct)} % above the "
            f"{steps.plain(self.policy.discount_threshold_pct)} % threshold",
        )
        managers = await self._find(Role.SALES_MANAGER, team_id=self.quote.team_id)
        if await self._wait_for_decision(managers or await self._find(Role.ADMIN)):
            return await self._tell_author_the_decision()
        waited = steps.describe(self.policy.approval_timeout)
        if self.policy.on_timeout == "validate":
            ruled = await self.lifecycle.move(
                "validated", f"no decision within {waited}: validated by rule")
        elif self.policy.on_timeout == "reject":
            ruled = await self._reject_by_rule(f"no decision within {waited}: rejected by rule")
        else:
            self._waiting_for("an admin's decision")
            ruled = await self.lifecycle.move("escalated", f"no decision within {waited}: "
                                                           f"escalated")
            if ruled:
                if await self._wait_for_decision(await self._find(Role.ADMIN)):
                    return await self._tell_author_the_decision()
                ruled = await self._reject_by_rule(
                    f"no decision within {waited} after escalation")
        if not ruled:  # a decision came in while the rule applied: the decision stands
            await self._settled()
            await self._tell_author_the_decision()

    async def _wait_for_decision(self, approvers: list[Person]) -> bool:
        self.state.approvers = [a.user_id for a in approvers]
        self.state.decision_due = workflow.now() + self.policy.approval_timeout
        stage = self.lifecycle.status
        await self._ask(approvers, stage, reminder=0)

        async def remind(n: int) -> None:
            self.state.reminders_sent += 1
            await self._ask(approvers, stage, reminder=n)

        return await self.timeline.wait_with_reminders(
            lambda: self._decided,
            timeout=self.policy.approval_timeout,
            remind_every=self.policy.reminder_every,
            remind=remind,
            summary=f"Wait for approval ({steps.describe(self.policy.approval_timeout)})",
        )

    async def _ask(self, approvers: list[Person], stage: str, *, reminder: int) -> None:
        kind = "approval_reminder" if reminder else "approval_request"
        for approver in approvers:
            await self._email(
                approver,
                kind,
                purpose=f"{stage}:{kind}:{reminder}:{approver.user_id}",
                summary=(f"Reminder {reminder} to {approver.name}" if reminder else
                         f"Ask {approver.name} to approve the "
                         f"{steps.plain(self.quote.discount_pct)} % discount"),
                reminder=reminder,
                escalated=stage == "escalated",
            )

    async def _tell_author_the_decision(self) -> None:
        """Email the author the decision (the quote may have moved on since: sent, won…)."""
        decision = self._decision or self.lifecycle.last
        approved = decision.status == "validated"
        await self._email(self.quote.author, "quote_decided", purpose="decided",
                          summary=f"Tell the author the quote is "
                                  f"{'approved' if approved else 'rejected'}",
                          approved=approved,
                          **({} if approved else {"reason": decision.reason}))

    async def _reject_by_rule(self, reason: str) -> bool:
        if not await self.lifecycle.move("rejected", reason):
            return False
        await self._tell_author_the_decision()
        return True

    @workflow.update
    async def decide(self, decision: ManagerDecision) -> QuoteState:
        """A manager (or, once escalated, an admin) approves or rejects the quote."""
        # A decision that came with the start (it was pending in the CRM): after the
        # submission's first step, which brings the quote to a manager.
        await workflow.wait_condition(lambda: self.lifecycle.status != "submitted")
        target = "validated" if decision.approve else "rejected"
        reason = decision.comment or ("approved" if decision.approve else "rejected")
        async with self.lifecycle.change(target, reason, by_user_id=decision.by_user_id) as moving:
            if not moving:
                self.lifecycle.refuse("be approved or rejected")
            self._decision = self.lifecycle.last
            self.state.decided_by = decision.by_user_id
            self.state.decision_comment = decision.comment
        return self._snapshot()

    @decide.validator
    def _may_decide(self, decision: ManagerDecision) -> None:
        if decision.by_user_id == self.quote.author.user_id:
            refuse(NOT_ALLOWED, "the author of a quote cannot approve or reject it")
        if decision.by_role == Role.SALES_MANAGER:
            if self.quote.team_id is not None and decision.by_team_id != self.quote.team_id:
                refuse(NOT_ALLOWED, "only a manager of the quote's team decides on it")
        elif decision.by_role != Role.ADMIN:
            refuse(NOT_ALLOWED, "only a sales manager or an admin decides on a quote")
        goes_to_a_manager = (self.lifecycle.status == "submitted"
                             and self.quote.discount_pct > self.policy.discount_threshold_pct)
        if self.lifecycle.status not in AWAITING_DECISION and not goes_to_a_manager:
            self.lifecycle.refuse(
                "be approved or rejected", "only a quote pending approval can")
        if not decision.approve and not decision.comment:
            refuse(MISSING_INFORMATION, "a rejection needs a comment", missing=["comment"])

    @workflow.update
    async def submission_outcome(self) -> QuoteState:
        """The status the submission led to: validated at once, or pending approval."""
        await workflow.wait_condition(
            lambda: self.lifecycle.status != "submitted" and self.lifecycle.settled)
        return self._snapshot()

    # Sending, and the customer's answer ----------------------------------------------

    async def _offer_to_customer(self) -> None:
        validity = steps.describe(self.policy.quote_validity)
        self._waiting_for("the quote to be sent to the customer")
        if not await self.timeline.wait(
            self.policy.quote_validity,
            lambda: self._left("validated"),
            f"Wait for the rep to send the quote ({validity})",
        ) and await self.lifecycle.move("expired", f"not sent within {validity}"):
            return
        await self._settled()
        await self._email_the_quote()  # sent: the customer may even have answered already
        self._waiting_for(f"the customer's answer until {self.state.valid_until:%Y-%m-%d}")
        if not await self.timeline.wait(
            self.policy.quote_validity,
            lambda: self._left("sent"),
            f"Wait for the customer's answer ({validity})",
        ):
            await self.lifecycle.move("expired",
                                      f"no answer from the customer within {validity}")
        await self._settled()

    async def _email_the_quote(self) -> None:
        assert self.state.valid_until is not None
        await self._email(
            Person(0, self.quote.contact_name, self.quote.contact_email),
            "quote_sent",
            purpose="sent",
            summary=f"Send the quote to {self.quote.contact_email}",
            valid_until=self.state.valid_until.date().isoformat(),
        )

    @workflow.update
    async def send_to_customer(self, sending: QuoteSending) -> QuoteState:
        """The rep sends the validated quote: it is 'sent' at once; the email follows."""
        valid_until = workflow.now() + self.policy.quote_validity
        async with self.lifecycle.change("sent", f"sent to {self.quote.contact_email}",
                                         by_user_id=sending.by_user_id,
                                         holds_until=valid_until) as moving:
            if not moving:
                self.lifecycle.refuse("be sent")
            self.state.valid_until = valid_until
        return self._snapshot()

    @send_to_customer.validator
    def _may_send(self, sending: QuoteSending) -> None:
        if sending.by_role not in MAY_SEND:
            refuse(NOT_ALLOWED, "only sales reps, sales managers and admins send quotes")
        if not self.lifecycle.allows("sent"):
            self.lifecycle.refuse(
                "be sent", "only a validated quote can be sent")

    @workflow.update
    async def customer_answered(self, response: CustomerResponse) -> QuoteState:
        """The customer accepts (won: the sale is recorded with it) or declines (lost)."""
        target = "won" if response.accepted else "lost"
        reason = response.note or ("the customer accepted" if response.accepted
                                   else "the customer declined")
        async with self.lifecycle.change(target, reason,
                                         by_user_id=response.by_user_id) as moving:
            if not moving:
                self.lifecycle.refuse("be answered")
            if response.accepted:
                sale = await steps.write(
                    CREATE_SALE,
                    SaleToCreate(self.quote.quote_id),
                    result_type=CreatedSale,
                    summary=f"Record the sale of quote {self.quote.quote_id}",
                )
                self.state.sale_id = sale.sale_id
        return self._snapshot()

    @customer_answered.validator
    def _may_answer(self, response: CustomerResponse) -> None:
        if not self.lifecycle.allows("won"):
            self.lifecycle.refuse(
                "be answered", "only a sent quote waits for the customer's answer")

    async def _start_project(self) -> None:
        """The sale becomes a project: its process starts, once per sale however retried. A
        sale that cannot (nobody to manage it) is left for ``POST /sales/{id}/project``."""
        assert self.state.sale_id is not None
        try:
            await workflow.execute_activity(
                START_PROJECT,
                ProjectToStart(self.state.sale_id),
                result_type=StartedProject,
                start_to_close_timeout=timedelta(minutes=1),
                retry_policy=steps.RETRY_FOREVER_GENTLY,
                summary=f"Start the project of sale {self.state.sale_id}",
            )
        except ActivityError as error:
            workflow.logger.warning("the project of sale %s did not start: %s",
                                    self.state.sale_id, error.cause)

    @workflow.query(name="state")
    def current_state(self) -> QuoteState:
        return self._snapshot()

    # Helpers -------------------------------------------------------------------------

    @property
    def _decided(self) -> bool:
        return self.lifecycle.status not in AWAITING_DECISION and self.lifecycle.settled

    def _left(self, status: str) -> bool:
        return self.lifecycle.status != status and self.lifecycle.settled

    async def _settled(self) -> None:
        """Wait until a change under way (a person's decision) has been recorded."""
        await workflow.wait_condition(lambda: self.lifecycle.settled)

    def _snapshot(self) -> QuoteState:
        return dataclasses.replace(self.state, status=self.lifecycle.status)

    async def _find(self, role: Role, *, team_id: int | None = None) -> list[Person]:
        return await workflow.execute_local_activity(
            FIND_PEOPLE,
            PeopleToFind([role.value], team_id, excluding_user_id=self.quote.author.user_id),
            result_type=list[Person],
            start_to_close_timeout=steps.DATABASE_READ,
            retry_policy=steps.RETRY_FOREVER_GENTLY,
            summary=f"Find the {role.value.replace('_', ' ')}s who may approve",
        )

    async def _email(
        self, to: Person, template: str, *, purpose: str, summary: str, **context: object
    ) -> None:
        quote = self.quote
        await steps.send_email(
            EmailToSend(
                to=to.email,
                template=template,
                purpose=f"submission_{quote.submission}:{purpose}",
                context={
                    "recipient_name": to.name,
                    "quote_id": quote.quote_id,
                    "customer": quote.customer,
                    "author_name": quote.author.name,
                    "discount_pct": steps.plain(quote.discount_pct),
                    "total": f"{quote.total:.2f} {quote.currency}",
                    "lines": [
                        {"description": line.description,
                         "quantity": steps.plain(line.quantity),
                         "unit_price": f"{line.unit_price:.2f}"}
                        for line in quote.lines
                    ],
                    **context,
                },
                related_type="quote",
                related_id=quote.quote_id,
            ),
            summary=summary,
        )

    async def _tell_lead(self) -> None:
        """Keep the lead's process informed: a quote opened, or reached its outcome."""
        lead = workflow.get_external_workflow_handle(lead_process_id(self.quote.lead_id))
        try:
            await lead.signal(QUOTE_PROGRESS,
                              QuoteProgress(self.quote.quote_id, self.lifecycle.status))
        except ApplicationError:
            # The lead's process has ended (dormant): the CRM still gets the outcome below.
            if self.lifecycle.status == "won":
                await steps.record_status(
                    "lead", self.quote.lead_id, "won", f"quote {self.quote.quote_id} was won",
                    event=f"submission_{self.quote.submission}:lead_won",
                )

    def _waiting_for(self, what: str) -> None:
        self.state.waiting_for = what
        self._show()

    def _show(self) -> None:
        """What the Temporal UI says this process is doing now."""
        about = f"Quote {self.quote.quote_id} for {self.quote.customer}"
        status = self.lifecycle.status
        if self.lifecycle.final:
            self.state.waiting_for = ""
            workflow.set_current_details(f"{about}: {status} ({self.lifecycle.last.reason})")
        elif self.state.waiting_for:
            workflow.set_current_details(
                f"{about} ({status}): waiting for {self.state.waiting_for}")

