"""QuoteApproval as it ran until 2026-11-24, kept for the processes started before then.

Such a process replays its history against this code (``QuoteApproval`` delegates to it when
the ``guarded-status-changes`` patch does not apply). Delete this module, and the delegation,
once no quote process started before 2026-11-24 can still be running.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows import steps
from workflows.contracts import (
    CREATE_SALE,
    FIND_PEOPLE,
    CreatedSale,
    EmailToSend,
    PeopleToFind,
    Person,
    SaleToCreate,
)
from workflows.messages import QUOTE_OUTCOMES, QUOTE_PROGRESS, QuoteProgress, lead_process_id
from workflows.quote_approval import (
    TELL_AUTHOR_THE_OUTCOME,
    CustomerResponse,
    ManagerDecision,
    QuoteApprovalInput,
    QuoteResult,
    QuoteSending,
    QuoteState,
)
from workflows.refusals import MISSING_INFORMATION, NOT_ALLOWED, WRONG_STATUS, refuse
from workflows.roles import Role

AWAITING_DECISION = ("pending_approval", "escalated")
FINAL = QUOTE_OUTCOMES
MAY_SEND = (Role.SALES_REP, Role.SALES_MANAGER, Role.ADMIN)


class LegacyQuoteApproval:
    """Approve a submitted quote, send it, and follow it to the customer's answer.

    A discount up to ``discount_threshold_pct`` is validated at once. Above it the quote
    waits for management approval, locked for its author: every manager of the team gets a
    request, then a reminder every ``reminder_every``; a manager who is not the author
    approves or rejects it with a comment. Still pending after ``approval_timeout``, the
    quote follows ``on_timeout``: validated (the rule of the source material), rejected, or
    escalated to the admins for another ``approval_timeout``, after which it is rejected.

    A rejected quote goes back to its author, who may change it and submit it again (a new
    run). Only a validated quote can be sent; it must be sent within ``quote_validity``, and
    the customer then has ``quote_validity`` to accept (won: a sale is created and the lead's
    process learns it) or decline (lost); silence makes it expired. The author hears the
    outcome by email.
    """

    def __init__(self, quote: QuoteApprovalInput) -> None:
        self.quote = quote
        self.policy = quote.policy
        self.state = QuoteState(submission=quote.submission)
        self._decision: ManagerDecision | None = None
        self._sending: QuoteSending | None = None
        self._response: CustomerResponse | None = None

    async def run(self, quote: QuoteApprovalInput) -> QuoteResult:
        await self._tell_lead()
        threshold = self.policy.discount_threshold_pct
        if quote.discount_pct <= threshold:
            await self._move_to(
                "validated",
                f"discount {steps.plain(quote.discount_pct)} % within the "
                f"{steps.plain(threshold)} % threshold",
            )
        else:
            await self._seek_approval()
        if self.state.status == "validated":
            await self._offer_to_customer()
            if workflow.patched(TELL_AUTHOR_THE_OUTCOME):
                await self._email(self.quote.author, "quote_outcome", purpose="outcome",
                                  summary=f"Tell {self.quote.author.name} the quote is "
                                          f"{self.state.status}", outcome=self.state.status)
        await self._tell_lead()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return QuoteResult(self.state.status, self.state.sale_id)

    # Management approval ---------------------------------------------------------------

    async def _seek_approval(self) -> None:
        self._waiting_for("a manager's decision")
        await self._move_to(
            "pending_approval",
            f"discount {steps.plain(self.quote.discount_pct)} % above the "
            f"{steps.plain(self.policy.discount_threshold_pct)} % threshold",
        )
        managers = await self._find(Role.SALES_MANAGER, team_id=self.quote.team_id)
        if await self._wait_for_decision(managers or await self._find(Role.ADMIN)):
            return await self._apply_decision()
        waited = steps.describe(self.policy.approval_timeout)
        if self.policy.on_timeout == "validate":
            await self._move_to("validated", f"no decision within {waited}: validated by rule")
        elif self.policy.on_timeout == "reject":
            await self._reject(f"no decision within {waited}: rejected by rule")
        else:
            self._waiting_for("an admin's decision")
            await self._move_to("escalated", f"no decision within {waited}: escalated")
            if await self._wait_for_decision(await self._find(Role.ADMIN)):
                return await self._apply_decision()
            await self._reject(f"no decision within {waited} after escalation")

    async def _wait_for_decision(self, approvers: list[Person]) -> bool:
        self.state.approvers = [a.user_id for a in approvers]
        stage = self.state.status
        await self._ask(approvers, stage, reminder=0)

        async def remind(n: int) -> None:
            self.state.reminders_sent += 1
            await self._ask(approvers, stage, reminder=n)

        return await steps.wait_with_reminders(
            lambda: self._decision is not None,
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

    async def _apply_decision(self) -> None:
        decision = self._decision
        assert decision is not None
        self.state.decided_by = decision.by_user_id
        self.state.decision_comment = decision.comment
        if decision.approve:
            await self._move_to("validated", decision.comment or "approved",
                                by_user_id=decision.by_user_id)
            await self._email(self.quote.author, "quote_decided", purpose="decided",
                              summary="Tell the author the quote is approved", approved=True)
        else:
            await self._reject(decision.comment or "rejected", by_user_id=decision.by_user_id)

    async def _reject(self, reason: str, *, by_user_id: int | None = None) -> None:
        await self._move_to("rejected", reason, by_user_id=by_user_id)
        await self._email(self.quote.author, "quote_decided", purpose="decided",
                          summary="Tell the author the quote is rejected", approved=False,
                          reason=reason)

    async def decide(self, decision: ManagerDecision) -> QuoteState:
        """A manager (or, once escalated, an admin) approves or rejects the quote."""
        self._decision = decision
        await workflow.wait_condition(lambda: self.state.status not in AWAITING_DECISION)
        return self.state

    def _may_decide(self, decision: ManagerDecision) -> None:
        if self.state.status not in AWAITING_DECISION or self._decision is not None:
            refuse(WRONG_STATUS, f"the quote is {self.state.status}, not waiting for approval")
        if decision.by_user_id == self.quote.author.user_id:
            refuse(NOT_ALLOWED, "the author of a quote cannot approve or reject it")
        if decision.by_role == Role.SALES_MANAGER:
            if self.quote.team_id is not None and decision.by_team_id != self.quote.team_id:
                refuse(NOT_ALLOWED, "only a manager of the quote's team decides on it")
        elif decision.by_role != Role.ADMIN:
            refuse(NOT_ALLOWED, "only a sales manager or an admin decides on a quote")
        if not decision.approve and not decision.comment:
            refuse(MISSING_INFORMATION, "a rejection needs a comment", missing=["comment"])

    async def submission_outcome(self) -> QuoteState:
        """The status the submission led to: validated at once, or pending approval."""
        await workflow.wait_condition(lambda: self.state.status != "submitted")
        return self.state

    # Sending, and the customer's answer ----------------------------------------------

    async def _offer_to_customer(self) -> None:
        validity = steps.describe(self.policy.quote_validity)
        self._waiting_for("the quote to be sent to the customer")
        if not await steps.wait_until(
            lambda: self._sending is not None,
            self.policy.quote_validity,
            f"Wait for the rep to send the quote ({validity})",
        ):
            await self._move_to("expired", f"not sent within {validity}")
            return
        assert self._sending is not None
        self.state.valid_until = workflow.now() + self.policy.quote_validity
        await self._email(
            Person(0, self.quote.contact_name, self.quote.contact_email),
            "quote_sent",
            purpose="sent",
            summary=f"Send the quote to {self.quote.contact_email}",
            valid_until=self.state.valid_until.date().isoformat(),
        )
        await self._move_to("sent", f"sent to {self.quote.contact_email}",
                            by_user_id=self._sending.by_user_id, holds_until=self.state.valid_until)
        self._waiting_for(f"the customer's answer until {self.state.valid_until:%Y-%m-%d}")
        if not await steps.wait_until(
            lambda: self._response is not None,
            self.policy.quote_validity,
            f"Wait for the customer's answer ({validity})",
        ):
            await self._move_to("expired", f"no answer from the customer within {validity}")
            return
        assert self._response is not None
        if not self._response.accepted:
            await self._move_to("lost", self._response.note or "the customer declined",
                                by_user_id=self._response.by_user_id)
            return
        sale: CreatedSale = await workflow.execute_local_activity(
            CREATE_SALE,
            SaleToCreate(self.quote.quote_id),
            result_type=CreatedSale,
            start_to_close_timeout=steps.DATABASE_WRITE,
            retry_policy=steps.RETRY_FOREVER_GENTLY,
            summary=f"Record the sale of quote {self.quote.quote_id}",
        )
        self.state.sale_id = sale.sale_id
        await self._move_to("won", self._response.note or "the customer accepted",
                            by_user_id=self._response.by_user_id)

    async def send_to_customer(self, sending: QuoteSending) -> QuoteState:
        self._sending = sending
        await workflow.wait_condition(lambda: self.state.status != "validated")
        return self.state

    def _may_send(self, sending: QuoteSending) -> None:
        if self.state.status != "validated" or self._sending is not None:
            refuse(WRONG_STATUS, f"only a validated quote can be sent; this one is "
                                 f"{self.state.status}")
        if sending.by_role not in MAY_SEND:
            refuse(NOT_ALLOWED, "only sales reps, sales managers and admins send quotes")

    async def customer_answered(self, response: CustomerResponse) -> QuoteState:
        self._response = response
        await workflow.wait_condition(lambda: self.state.status != "sent")
        return self.state

    def _may_answer(self, response: CustomerResponse) -> None:
        if self.state.status != "sent" or self._response is not None:
            refuse(WRONG_STATUS, f"the quote is {self.state.status}, not waiting for the "
                                 f"customer's answer")

    def current_state(self) -> QuoteState:
        return self.state

    # Helpers -------------------------------------------------------------------------

    async def _find(self, role: Role, *, team_id: int | None = None) -> list[Person]:
        return await workflow.execute_local_activity(
            FIND_PEOPLE,
            PeopleToFind([role.value], team_id, excluding_user_id=self.quote.author.user_id),
            result_type=list[Person],
            start_to_close_timeout=steps.DATABASE_WRITE,
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
                              QuoteProgress(self.quote.quote_id, self.state.status))
        except ApplicationError:
            # The lead's process has ended (dormant): the CRM still gets the outcome below.
            if self.state.status == "won":
                await steps.record_status(
                    "lead", self.quote.lead_id, "won", f"quote {self.quote.quote_id} was won"
                )

    def _waiting_for(self, what: str) -> None:
        self.state.waiting_for = what
        self._show()

    def _show(self, outcome: str | None = None) -> None:
        """What the Temporal UI says this process is doing now."""
        about = f"Quote {self.quote.quote_id} for {self.quote.customer}"
        workflow.set_current_details(
            f"{about}: {self.state.status} ({outcome})" if outcome else
            f"{about} ({self.state.status}): waiting for {self.state.waiting_for}"
        )

    async def _move_to(
        self,
        status: str,
        reason: str,
        *,
        by_user_id: int | None = None,
        holds_until: datetime | None = None,
    ) -> None:
        await steps.record_status(
            "quote", self.quote.quote_id, status, reason, by_user_id=by_user_id,
            holds_until=holds_until,
        )
        self.state.status = status
        if status in FINAL:
            self.state.waiting_for = ""
            self._show(outcome=reason)
        elif self.state.waiting_for:
            self._show()
