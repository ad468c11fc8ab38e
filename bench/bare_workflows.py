"""The bare reference: the smallest workflows shaped like crmflow's processes.

Each does what the matching crmflow process does for Temporal — the same timers, the same
number of regular activities, the same updates — and nothing else: no database, no SMTP,
no local activities. They run on their own task queue in their own worker process
(``bench.bare``), with the SDK's defaults (sandbox, cache), so the ratio crmflow / bare is
what crmflow's own code costs on top of Temporal.

Only ``temporalio`` and ``dataclasses`` are imported: the sandbox re-imports this module for
every workflow, as it does crmflow's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

REPORT = "report"
"""The one activity: does nothing but tell the bench, by a UDP datagram, that it ran
(an empty tag: it tells nothing)."""
ACTIVITY_TIMEOUT = timedelta(seconds=60)


async def report(tag: str) -> None:
    await workflow.execute_activity(REPORT, tag, start_to_close_timeout=ACTIVITY_TIMEOUT)


@dataclass
class Waiting:
    period_seconds: float
    """Remind every this long (a lead's step delay, a quote's reminder period)."""


@workflow.defn
class BareWaiting:
    """A process taken in, then waiting: one activity (crmflow: the welcome email, or the
    approval request), then a timer every period, each followed by one activity (the
    reminder). Reports ``in <id>`` and ``fired <id> <n>``."""

    @workflow.run
    async def run(self, waiting: Waiting) -> None:
        workflow_id = workflow.info().workflow_id
        await report(f"in {workflow_id}")
        fired = 0
        while True:
            await workflow.sleep(timedelta(seconds=waiting.period_seconds))
            fired += 1
            await report(f"fired {workflow_id} {fired}")


@workflow.defn
class BareDeal:
    """A short process driven by three updates and two activities, like a quote submitted
    (validated at once), sent (an email) and accepted (won; the author is told)."""

    def __init__(self) -> None:
        self.status = "submitted"

    @workflow.run
    async def run(self) -> str:
        self.status = "validated"
        await workflow.wait_condition(lambda: self.status == "sent")
        await report("")
        await workflow.wait_condition(lambda: self.status in ("won", "lost"))
        await report("")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.status

    @workflow.update
    async def outcome(self) -> str:
        await workflow.wait_condition(lambda: self.status != "submitted")
        return self.status

    @workflow.update
    def send(self) -> str:
        self.status = "sent"
        return self.status

    @send.validator
    def _may_send(self) -> None:
        if self.status != "validated":
            raise ApplicationError(f"the deal is {self.status}", type="WrongStatus")

    @workflow.update
    def answer(self, accepted: bool) -> str:
        self.status = "won" if accepted else "lost"
        return self.status

    @answer.validator
    def _may_answer(self, accepted: bool) -> None:
        if self.status != "sent":
            raise ApplicationError(f"the deal is {self.status}", type="WrongStatus")


@dataclass
class Approval:
    author_id: int
    period_seconds: float
    """Remind every this long while no decision is taken."""


@dataclass
class Decision:
    approve: bool
    by_user_id: int


@workflow.defn
class BareApproval:
    """Waiting for a decision, like a quote pending approval: one activity (the request),
    then a reminder (one activity) every period until an update with a validator decides,
    then one activity (the author told). Reports ``in <id>`` and ``fired <id> <n>``."""

    @workflow.init
    def __init__(self, approval: Approval) -> None:
        self.author_id = approval.author_id
        self.status = "pending_approval"

    @workflow.run
    async def run(self, approval: Approval) -> str:
        workflow_id = workflow.info().workflow_id
        await report(f"in {workflow_id}")
        fired = 0
        while self.status == "pending_approval":
            try:
                await workflow.wait_condition(lambda: self.status != "pending_approval",
                                              timeout=timedelta(seconds=approval.period_seconds))
            except TimeoutError:
                fired += 1
                await report(f"fired {workflow_id} {fired}")
        await report("")
        await workflow.wait_condition(lambda: False)  # like a validated quote, waiting
        return self.status

    @workflow.update
    def decide(self, decision: Decision) -> str:
        self.status = "validated" if decision.approve else "rejected"
        return self.status

    @decide.validator
    def _may_decide(self, decision: Decision) -> None:
        if decision.by_user_id == self.author_id:
            raise ApplicationError("the author cannot decide", type="NotAllowed")
        if self.status != "pending_approval":
            raise ApplicationError(f"the quote is {self.status}", type="WrongStatus")


WORKFLOWS = [BareWaiting, BareDeal, BareApproval]


@dataclass
class Timeline:
    days: int
    """How many daily steps: one activity each, then a day's timer (a simulated case's
    reminders and waits)."""


@workflow.defn
class BareTimeline:
    """A past case replayed with nothing of crmflow: an activity, then a one-day timer, for
    ``days`` days — the floor of a simulation's runs on a time-skipping server."""

    @workflow.run
    async def run(self, timeline: Timeline) -> int:
        for _ in range(timeline.days):
            await report("")
            await workflow.sleep(timedelta(days=1))
        return timeline.days
