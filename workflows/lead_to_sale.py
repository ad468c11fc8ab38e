"""Lead to sale: from a newsletter sign-up to a won quote (workflow id ``lead-{lead_id}``)."""

from __future__ import annotations

import asyncio
import dataclasses

from temporalio import workflow

from workflows import steps
from workflows.contracts import (
    ASSIGN_SALES_REP,
    OPEN_OPPORTUNITY,
    EmailToSend,
    OpenedOpportunity,
    OpportunityToOpen,
    Person,
    RepToAssign,
    StartOptions,
    TaskToCreate,
)
from workflows.lead_types import (
    ContentDownload,
    LeadNurturingPolicy,  # noqa: F401 (re-exported: defined here before)
    LeadResult,
    LeadState,
    LeadToSaleInput,
    MarketingResponse,
    Qualification,
)
from workflows.lifecycle import Lifecycle
from workflows.messages import QUOTE_OUTCOMES, QUOTE_PROGRESS, QuoteProgress
from workflows.refusals import MISSING_INFORMATION, NOT_ALLOWED, refuse
from workflows.roles import Role
from workflows.search_attributes import CRM_AMOUNT, CRM_CUSTOMER_ID, CRM_OWNER

NURTURING_EMAILS = {
    "welcome": "welcome newsletter",
    "case_study": "case study",
    "white_paper": "white paper",
    "demo_proposal": "demo proposal",
    "promotional_offer": "promotional offer",
}
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("nurturing", "qualified", "disqualified"),
    "nurturing": ("engaged", "qualified", "disqualified", "dormant", "won"),
    "engaged": ("qualified", "disqualified", "dormant", "won"),
    "qualified": ("disqualified", "dormant", "won"),
}
"""A lead's statuses and where each may go; disqualified, dormant and won are final."""
MAY_QUALIFY = (Role.SALES_REP, Role.SALES_MANAGER, Role.ADMIN)


def start_options(lead: LeadToSaleInput) -> StartOptions:
    """How the process shows in the Temporal UI from its start."""
    origin = "created by a rep" if lead.source == "rep" else f"{lead.source} sign-up"
    return StartOptions(
        summary=f"Lead {lead.name}{f' ({lead.company})' if lead.company else ''} — {origin}",
        details=f"Lead {lead.lead_id} <{lead.email}>; nurturing policy: {lead.policy}",
        status="new",
        owner=lead.owner_id,
    )


@workflow.defn
class LeadToSale:
    """Nurture a new lead by email until it shows interest, hand it to a sales rep, and follow
    it until one of its quotes is won, the rep disqualifies it, or it goes quiet.

    Nurturing sends the welcome newsletter, a case study and the white paper, ``step_delay``
    apart. The demo proposal goes only to a lead who downloaded the white paper: without a
    download within ``content_wait`` the lead gets another case study and we wait again, at
    most ``max_loops`` times, then go on to the promotional offer. A demo request jumps
    straight to the demo proposal; an unsubscribe stops marketing email for good; once the
    lead is qualified or disqualified, nurturing stops.

    When the lead shows interest (white paper downloaded or demo requested), it is engaged: a
    rep is assigned if none is, notified by email, and given a task to call the lead within
    ``call_task_due`` — unless the lead was closed first. A positive marketing response from
    a qualified lead gives its owner a follow-up task. The process ends when a quote is won,
    when the lead is disqualified, or after ``lead_ttl`` without activity while no quote is
    open. A lead followed for months continues as new, carrying its state.
    """

    @workflow.init
    def __init__(self, lead: LeadToSaleInput) -> None:
        self.lead = lead
        self.policy = lead.policy
        self.state = lead.carried or LeadState(owner_id=lead.owner_id)
        self.lifecycle = Lifecycle("lead", lead.lead_id, TRANSITIONS, status=self.state.status,
                                   on_change=self._show)
        self.lifecycle.last.reason = self.state.status_reason
        self._activity = 0
        self._handing_over = False
        self.timeline = steps.Timeline()

    @workflow.run
    async def run(self, lead: LeadToSaleInput) -> LeadResult:
        hand_over = None
        if lead.carried is None:
            await self.lifecycle.move("nurturing", "lead signed up")
            hand_over = asyncio.create_task(self._hand_over_to_sales_when_interested())
            await self._nurture()
        elif self.state.call_task_id is None:
            hand_over = asyncio.create_task(self._hand_over_to_sales_when_interested())
        await self._follow_until_outcome()
        if hand_over is not None:
            await hand_over
        await workflow.wait_condition(workflow.all_handlers_finished)
        return LeadResult(self.lifecycle.status, self.state.won_quote_id)

    # Nurturing ------------------------------------------------------------------------

    async def _nurture(self) -> None:
        await self._send_marketing("welcome")
        for content in ("case_study", "white_paper"):
            if not await self._pause() or self.state.demo_requested:
                break
            await self._send_marketing(content)
        if (not self._interested and not self._nurturing_stopped
                and await self._wait_for_white_paper()):
            await self._pause()
        if self._interested and not self._nurturing_stopped:
            await self._send_marketing("demo_proposal")
            await self._pause()
        if not self._nurturing_stopped:
            await self._send_marketing("promotional_offer")

    async def _wait_for_white_paper(self) -> bool:
        """The rule with a feedback loop: no demo proposal before the white paper is read."""
        while True:
            self._waiting_for("the white paper download")
            if await self.timeline.wait(
                self.policy.content_wait,
                lambda: self._interested or self._nurturing_stopped,
                f"Wait for white paper download ({steps.describe(self.policy.content_wait)})",
            ):
                return self._interested
            if self.state.extra_case_studies >= self.policy.max_loops:
                return False
            self.state.extra_case_studies += 1
            await self._send_marketing(
                "case_study", purpose=f"case_study_{self.state.extra_case_studies + 1}"
            )

    async def _pause(self) -> bool:
        """Wait ``step_delay`` before the next email; False when nurturing has stopped.

        A demo request cuts the pause short: it jumps ahead to the demo proposal.
        """
        self._waiting_for("the next nurturing step")
        await self.timeline.wait(
            self.policy.step_delay,
            lambda: self._nurturing_stopped or self._demo_jump_pending,
            f"Pause before the next email ({steps.describe(self.policy.step_delay)})",
        )
        return not self._nurturing_stopped

    async def _send_marketing(self, template: str, purpose: str | None = None) -> None:
        if self._nurturing_stopped:
            return
        purpose = purpose or template
        await steps.send_email(
            EmailToSend(
                to=self.lead.email,
                template=template,
                purpose=purpose,
                context={"lead_name": self.lead.name, "lead_id": self.lead.lead_id},
                related_type="lead",
                related_id=self.lead.lead_id,
            ),
            summary=f"Send {NURTURING_EMAILS[template]} to {self.lead.email}",
        )
        self.state.emails_sent.append(purpose)

    # Hand-over to a sales rep ---------------------------------------------------------

    async def _hand_over_to_sales_when_interested(self) -> None:
        """Engage the lead, then assign, tell and task a rep — each step only while the lead
        is still open, so a lead disqualified meanwhile gets no rep and no call."""
        await workflow.wait_condition(lambda: self._interested or self.lifecycle.final)
        if self.lifecycle.final:
            return
        self._handing_over = True
        why = "asked for a demo" if self.state.demo_requested else "downloaded the white paper"
        if self.lifecycle.status in ("new", "nurturing"):
            await self.lifecycle.move("engaged", f"the lead {why}")
        rep = None if self.lifecycle.final else await self._assign_rep()
        if rep is not None and not self.lifecycle.final:
            await steps.send_email(
                EmailToSend(
                    to=rep.email,
                    template="rep_new_lead",
                    purpose="rep_notified",
                    context={"rep_name": rep.name, "lead_name": self.lead.name, "why": why,
                             "lead_email": self.lead.email, "lead_id": self.lead.lead_id},
                    related_type="lead",
                    related_id=self.lead.lead_id,
                ),
                summary=f"Tell {rep.name} that {self.lead.name} {why}",
            )
        if not self.lifecycle.final:
            task = await steps.create_task(
                TaskToCreate(
                    kind="call_lead",
                    title=f"Call {self.lead.name}: {why}",
                    purpose="call_lead",
                    assignee_id=rep.user_id if rep else None,
                    due_at=workflow.now() + self.policy.call_task_due,
                    related_type="lead",
                    related_id=self.lead.lead_id,
                )
            )
            self.state.call_task_id = task.task_id
        self._handing_over = False

    async def _assign_rep(self) -> Person | None:
        rep: Person | None = await steps.write(
            ASSIGN_SALES_REP,
            RepToAssign(self.lead.lead_id, self.policy.rep_assignment),
            result_type=Person | None,  # type: ignore[arg-type]
            summary=f"Assign a sales rep ({self.policy.rep_assignment.replace('_', ' ')})",
        )
        if rep is not None:
            self.state.owner_id = rep.user_id
            workflow.upsert_search_attributes([CRM_OWNER.value_set(str(rep.user_id))])
        return rep

    # After nurturing: qualification and quotes ----------------------------------------

    async def _follow_until_outcome(self) -> None:
        while not self.lifecycle.final:
            if self.state.won_quote_id is not None:
                await self.lifecycle.move("won", f"quote {self.state.won_quote_id} was won")
                continue
            if workflow.info().is_continue_as_new_suggested() and not self._handing_over:
                await self._continue_as_new()
            seen = self._activity
            self._waiting_for(
                "a quote to be won" if self.state.open_quotes else "the sales rep or the lead"
            )
            active = await self.timeline.wait(
                self.policy.lead_ttl,
                lambda seen=seen: self.lifecycle.final  # type: ignore[misc]
                or self.state.won_quote_id is not None
                or self._activity != seen,
                f"Wait for activity ({steps.describe(self.policy.lead_ttl)} until dormant)",
            )
            if not active and not self.state.open_quotes:
                await self.lifecycle.move(
                    "dormant", f"no activity for {steps.describe(self.policy.lead_ttl)}"
                )

    async def _continue_as_new(self) -> None:
        """A long history slows every replay: start afresh with the same state and policy."""
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(dataclasses.replace(self.lead, carried=self._snapshot()))

    @workflow.update
    async def qualify(self, decision: Qualification) -> LeadState:
        """The rep qualifies the lead (it becomes an opportunity) or disqualifies it."""
        self._touch()
        if not decision.qualified:
            async with self.lifecycle.change("disqualified", decision.reason or "",
                                             by_user_id=decision.by_user_id) as moving:
                if not moving:
                    self.lifecycle.refuse("be disqualified")
            return self._snapshot()
        assert decision.need is not None and decision.budget is not None
        async with self.lifecycle.change("qualified", decision.reason or "qualified",
                                         by_user_id=decision.by_user_id) as moving:
            if not moving:
                self.lifecycle.refuse("be qualified")
            opportunity = await steps.write(
                OPEN_OPPORTUNITY,
                OpportunityToOpen(self.lead.lead_id, self.state.owner_id or decision.by_user_id,
                                  decision.need, decision.budget),
                result_type=OpenedOpportunity,
                summary=f"Open the opportunity for {self.lead.name}",
            )
            self.state.owner_id = opportunity.owner_id
            workflow.upsert_search_attributes([
                CRM_OWNER.value_set(str(opportunity.owner_id)),
                CRM_CUSTOMER_ID.value_set(str(opportunity.account_id)),
                CRM_AMOUNT.value_set(float(decision.budget)),
            ])
        return self._snapshot()

    @qualify.validator
    def _may_qualify(self, decision: Qualification) -> None:
        if decision.by_role not in MAY_QUALIFY:
            refuse(NOT_ALLOWED, "only sales reps, sales managers and admins qualify leads")
        if decision.by_role == Role.SALES_REP and self.state.owner_id not in (
            None,
            decision.by_user_id,
        ):
            refuse(NOT_ALLOWED, "this lead belongs to another sales rep")
        target = "qualified" if decision.qualified else "disqualified"
        if not self.lifecycle.allows(target):
            self.lifecycle.refuse(
                "be qualified" if decision.qualified else "be disqualified")
        if decision.qualified:
            missing = [name for name in ("need", "budget") if getattr(decision, name) is None]
            if missing:
                refuse(MISSING_INFORMATION, "qualifying a lead needs its need and budget",
                       missing=missing)
        elif not decision.reason:
            refuse(MISSING_INFORMATION, "disqualifying a lead needs a reason", missing=["reason"])

    # What the lead does, and what its quotes do ---------------------------------------

    @workflow.signal
    def content_downloaded(self, download: ContentDownload) -> None:
        self._touch()
        if download.content not in self.state.downloaded:
            self.state.downloaded.append(download.content)

    @workflow.signal
    def demo_requested(self) -> None:
        self._touch()
        self.state.demo_requested = True

    @workflow.signal
    def unsubscribed(self) -> None:
        self._touch()
        self.state.unsubscribed = True

    @workflow.signal
    async def marketing_response(self, response: MarketingResponse) -> None:
        """A positive response from a lead sales already works on: its owner follows up."""
        self._touch()
        if self.lifecycle.status != "qualified" or self.state.owner_id is None:
            return
        self.state.follow_ups += 1
        await steps.create_task(
            TaskToCreate(
                kind="sales_follow_up",
                title=f"Follow up {self.lead.name}: responded to "
                      f"{response.content or 'a campaign'}",
                purpose=f"follow_up_{self.state.follow_ups}",
                assignee_id=self.state.owner_id,
                due_at=workflow.now() + self.policy.call_task_due,
                related_type="lead",
                related_id=self.lead.lead_id,
            )
        )

    @workflow.signal(name=QUOTE_PROGRESS)
    def quote_progress(self, progress: QuoteProgress) -> None:
        self._touch()
        if progress.status == "won":
            self.state.won_quote_id = progress.quote_id
        if progress.status in QUOTE_OUTCOMES:
            if progress.quote_id in self.state.open_quotes:
                self.state.open_quotes.remove(progress.quote_id)
        elif progress.quote_id not in self.state.open_quotes:
            self.state.open_quotes.append(progress.quote_id)

    @workflow.query(name="state")
    def current_state(self) -> LeadState:
        return self._snapshot()

    # Helpers -------------------------------------------------------------------------

    def _snapshot(self) -> LeadState:
        return dataclasses.replace(self.state, status=self.lifecycle.status,
                                   status_reason=self.lifecycle.last.reason)

    @property
    def _interested(self) -> bool:
        return self.state.demo_requested or "white_paper" in self.state.downloaded

    @property
    def _nurturing_stopped(self) -> bool:
        return (self.state.unsubscribed or self.lifecycle.final
                or self.lifecycle.status == "qualified")

    @property
    def _demo_jump_pending(self) -> bool:
        return self.state.demo_requested and "demo_proposal" not in self.state.emails_sent

    def _touch(self) -> None:
        self._activity += 1

    def _waiting_for(self, what: str) -> None:
        self.state.waiting_for = what
        self._show()

    def _show(self) -> None:
        """What the Temporal UI says this process is doing now."""
        if self.lifecycle.final:
            self.state.waiting_for = ""
            workflow.set_current_details(
                f"Lead {self.lead.name}: {self.lifecycle.status} ({self.lifecycle.last.reason})")
        elif self.state.waiting_for:
            workflow.set_current_details(f"Lead {self.lead.name} ({self.lifecycle.status}): "
                                         f"waiting for {self.state.waiting_for}")

