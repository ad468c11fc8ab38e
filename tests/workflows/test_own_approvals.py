"""The approval step of your own workflows, on the time-skipping server with the real
activities: who is asked and reminded, who may decide (never the author), the timeout
rule (approve, reject, escalate), and where each decision leads."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError

from crm.models import EnrolmentStep, User
from tests import factories
from tests.factories import SalesTeam
from tests.waiting import eventually
from tests.workflows.conftest import Harness
from tests.workflows.own import enrolled, published
from workflows.own.interpreter import ApprovalDecision, Cancellation, OwnWorkflow

DAY = timedelta(days=1)

DISCOUNT = """
name: Discount approval
object: quote
templates:
  ask: {subject: "Approve quote {quote.id}?", body: "{quote.discount_pct} % off."}
  approved: {subject: "Quote {quote.id} approved", body: "Send it."}
  rejected: {subject: "Quote {quote.id} rejected", body: "Change it."}
steps:
  - id: approval
    approval: {approvers: sales_manager, template: ask, timeout: 5d, remind_every: 2d,
               on_timeout: RULE, on_reject: tell_no}
  - {id: tell_yes, notify: {to: owner, template: approved}}
  - {id: approved, end: {outcome: approved}}
  - {id: tell_no, notify: {to: owner, template: rejected}}
  - {id: rejected, end: {outcome: rejected}}
"""


async def approval_of(h: Harness, rule: str) -> tuple[SalesTeam, int, WorkflowHandle[Any, Any]]:
    team = await factories.sales_team(h.sessions)
    lead = await factories.qualified_lead(h.sessions, team.rep)
    quote = await factories.quote(h.sessions, lead, team.rep, discount_pct="25")
    definition = await published(h, DISCOUNT.replace("RULE", rule), team.admin)
    return team, quote.id, await enrolled(h, definition.id, quote.id, team.admin)


def by(user: User, approve: bool, comment: str = "") -> ApprovalDecision:
    return ApprovalDecision(user.id, user.role, user.team_id, approve, comment, user.name)


def subjects(h: Harness, user: User) -> list[str]:
    return [m.subject for m in h.mail.to(user.email)]


async def notes(h: Harness) -> list[tuple[str, str | None]]:
    async with h.sessions() as session:
        return [(s.step, s.note) for s in await session.scalars(
            select(EnrolmentStep).order_by(EnrolmentStep.id))]


async def test_the_team_managers_are_asked_and_one_of_them_approves(harness: Harness) -> None:
    h = harness
    team, quote_id, handle = await approval_of(h, "reject")
    ask = f"Approve quote {quote_id}?"
    await eventually(lambda: subjects(h, team.manager) and subjects(h, team.other_manager))
    assert subjects(h, team.manager) == subjects(h, team.other_manager) == [ask]
    assert subjects(h, team.foreign_manager) == []  # another team's manager
    assert subjects(h, team.rep) == []  # the author asks nobody to approve by email

    await h.env.sleep(2 * DAY + timedelta(hours=1))
    await eventually(lambda: len(subjects(h, team.manager)) == 2)
    assert subjects(h, team.manager) == [ask, f"Reminder 1: {ask}"]

    view = await handle.execute_update(OwnWorkflow.decide, by(team.other_manager, True, "ok"))
    assert view.approval.decision == "approved"
    assert view.approval.decided_by == team.other_manager.id
    result = await handle.result()
    assert (result.status, result.outcome) == ("completed", "approved")
    assert subjects(h, team.rep) == [f"Quote {quote_id} approved"]
    assert ("approval", "approved by Marc: ok") in await notes(h)


@pytest.mark.parametrize(("who", "approve", "comment", "refusal"), [
    ("rep", True, "", "the author of quote"),
    ("foreign_manager", True, "", "only someone of the quote's team"),
    ("other_rep", True, "", "decided by sales managers and admins"),
    ("manager", False, "", "a rejection needs a comment"),
])
async def test_who_may_not_decide_is_refused_and_changes_nothing(
    harness: Harness, who: str, approve: bool, comment: str, refusal: str,
) -> None:
    h = harness
    team, _, handle = await approval_of(h, "reject")
    await eventually(lambda: subjects(h, team.manager))
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(OwnWorkflow.decide,
                                    by(getattr(team, who), approve, comment))
    assert refusal in str(refused.value.cause)
    view = await handle.query(OwnWorkflow.current)
    assert (view.status, view.step, view.approval.decision) == ("running", "approval", "")


async def test_a_rejection_goes_to_on_reject_and_a_second_decision_is_refused(
    harness: Harness,
) -> None:
    h = harness
    team, quote_id, handle = await approval_of(h, "approve")
    await eventually(lambda: subjects(h, team.manager))
    await handle.execute_update(OwnWorkflow.decide, by(team.manager, False, "too much"))
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(OwnWorkflow.decide, by(team.admin, True))
    assert "not waiting for an approval" in str(refused.value.cause)
    result = await handle.result()
    assert (result.status, result.outcome) == ("completed", "rejected")
    assert subjects(h, team.rep) == [f"Quote {quote_id} rejected"]
    assert ("approval", "rejected by Maria: too much") in await notes(h)


@pytest.mark.parametrize(("rule", "outcome", "told"), [
    ("approve", "approved", "approved"), ("reject", "rejected", "rejected")])
async def test_nobody_deciding_in_time_leaves_it_to_the_rule(
    harness: Harness, rule: str, outcome: str, told: str,
) -> None:
    h = harness
    team, quote_id, handle = await approval_of(h, rule)
    result = await handle.result()
    assert (result.status, result.outcome) == ("completed", outcome)
    ask = f"Approve quote {quote_id}?"
    # Reminded on days 2 and 4; the rule on day 5.
    assert subjects(h, team.manager) == [ask, f"Reminder 1: {ask}", f"Reminder 2: {ask}"]
    assert subjects(h, team.rep) == [f"Quote {quote_id} {told}"]
    assert ("approval", f"nobody decided within 5 days: {outcome} by rule") in await notes(h)


async def test_escalated_it_goes_to_the_admins_for_another_timeout_then_is_rejected(
    harness: Harness,
) -> None:
    h = harness
    team, quote_id, handle = await approval_of(h, "escalate")
    await h.env.sleep(5 * DAY + timedelta(hours=1))
    await eventually(lambda: subjects(h, team.admin))
    assert subjects(h, team.admin) == [f"Escalated: Approve quote {quote_id}?"]
    view = await handle.query(OwnWorkflow.current)
    assert view.approval.escalated and view.approval.decision == ""
    with pytest.raises(WorkflowUpdateFailedError) as refused:  # the managers' time is over
        await handle.execute_update(OwnWorkflow.decide, by(team.manager, True))
    assert "decided by admins" in str(refused.value.cause)

    result = await handle.result()
    assert (result.status, result.outcome) == ("completed", "rejected")
    assert ("approval", "nobody decided within 5 days after escalation: rejected by rule") \
        in await notes(h)


async def test_a_cancellation_ends_the_wait_for_a_decision(harness: Harness) -> None:
    h = harness
    team, _, handle = await approval_of(h, "approve")
    await eventually(lambda: subjects(h, team.manager))
    view = await handle.execute_update(OwnWorkflow.cancel, Cancellation(team.admin.id, "lost"))
    assert (view.status, view.outcome) == ("cancelled", "lost")
    assert subjects(h, team.rep) == []
