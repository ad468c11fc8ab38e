"""QuoteApproval: every branch, with time skipping (a 5-day timeout passes in a moment)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from crm import db
from crm.models import Lead, Project, Sale, User
from crm.repo import history, quotes
from crmflow.mail_sink import ReceivedMail
from tests import factories
from tests.waiting import eventually
from tests.workflows.conftest import Harness
from tests.workflows.starts import submit_quote
from workflows.quote_approval import (
    CustomerResponse,
    ManagerDecision,
    QuoteApproval,
    QuoteApprovalPolicy,
    QuoteSending,
)


async def submit(
    h: Harness, team: factories.SalesTeam, discount: str, policy: QuoteApprovalPolicy
) -> tuple[int, WorkflowHandle]:
    return await submit_quote(h.env.client, h.task_queue, h.sessions, team.rep, discount, policy)


async def statuses(h: Harness, quote_id: int) -> list[tuple[str, str | None]]:
    async with db.unit_of_work(h.sessions) as session:
        rows = await history.history_of(session=session, object_type="quote", object_id=quote_id)
        return [(r.to_status, r.reason) for r in rows]


def decision(user: User, approve: bool, comment: str | None = "ok") -> ManagerDecision:
    return ManagerDecision(approve, user.id, user.role, user.team_id, comment)


def quote_mail(h: Harness, address: str) -> list[ReceivedMail]:
    return [m for m in h.mail.to(address) if m.key.startswith("quote-")]


async def test_small_discount_is_validated_at_once_then_won_creates_a_sale(
    harness: Harness,
) -> None:
    h = harness
    team = await factories.sales_team(h.sessions)
    quote_id, handle = await submit(h, team, "15", QuoteApprovalPolicy())

    state = await handle.execute_update(QuoteApproval.submission_outcome)
    assert state.status == "validated"
    state = await handle.execute_update(
        QuoteApproval.send_to_customer, QuoteSending(team.rep.id, team.rep.role)
    )
    assert state.status == "sent"  # answered once recorded: the email follows
    customer_mail = await eventually(lambda: h.mail.to("jane@acme.example"))
    assert [m.purpose for m in customer_mail] == ["submission_1:sent"]
    assert "- CRM licence: 10 x 100.00" in customer_mail[0].text
    assert "Discount: 15 %" in customer_mail[0].text
    assert "Total: 850.00 EUR" in customer_mail[0].text

    state = await handle.execute_update(QuoteApproval.customer_answered, CustomerResponse(True))
    assert state.status == "won"
    result = await handle.result()
    assert result.status == "won"
    async with db.unit_of_work(h.sessions) as session:
        sale = await session.scalar(select(Sale).where(Sale.quote_id == quote_id))
        assert sale is not None and sale.amount == Decimal("850.00")
        assert result.sale_id == sale.id
        project = await session.scalar(select(Project).where(Project.sale_id == sale.id))
        assert project is not None  # the win started the sale's project
        # The lead's process had ended (none runs here): the quote records the win on the lead.
        lead = await session.get(Lead, sale.lead_id)
        assert lead is not None and lead.status == "won"
    assert [s for s, _ in await statuses(h, quote_id)] == ["validated", "sent", "won"]
    # The win started the sale's project, which emails the same people: only the quote's
    # own emails (keyed by its process) count here.
    assert quote_mail(h, "maria@crm.example") == []  # no approval asked
    [outcome] = quote_mail(h, "alice@crm.example")
    assert (outcome.purpose, outcome.subject) == ("submission_1:outcome", "Quote 1 for Acme: won")


async def test_big_discount_waits_for_a_manager_who_approves(harness: Harness) -> None:
    h = harness
    team = await factories.sales_team(h.sessions)
    policy = QuoteApprovalPolicy(reminder_every=timedelta(days=1))
    quote_id, handle = await submit(h, team, "25", policy)

    state = await handle.execute_update(QuoteApproval.submission_outcome)
    assert state.status == "pending_approval"
    await h.env.sleep(timedelta(days=1, hours=12))
    for manager in (team.manager, team.other_manager):
        assert [m.purpose for m in h.mail.to(manager.email)] == [
            f"submission_1:pending_approval:approval_request:0:{manager.id}",
            f"submission_1:pending_approval:approval_reminder:1:{manager.id}",
        ]
    assert h.mail.to("nora@crm.example") == []  # another team's manager is not asked

    state = await handle.execute_update(QuoteApproval.decide,
                                        decision(team.manager, True, "fine for Acme"))
    assert state.status == "validated"
    assert state.decided_by == team.manager.id
    async with db.unit_of_work(h.sessions) as session:
        quote = await quotes.get_quote(session=session, quote_id=quote_id)
        assert quote.decided_by_id == team.manager.id
        assert quote.decision_comment == "fine for Acme"
    mail = await eventually(lambda: h.mail.to("alice@crm.example"))
    assert [m.purpose for m in mail] == ["submission_1:decided"]
    assert "is approved" in mail[0].subject
    assert (await statuses(h, quote_id))[:2] == [
        ("pending_approval", "discount 25 % above the 20 % threshold"),
        ("validated", "fine for Acme"),
    ]
    await handle.terminate("test over")


async def test_a_quote_sent_while_its_author_hears_of_the_approval_still_goes_out(
    harness: Harness,
) -> None:
    """The decision is answered once recorded; the rep may send before the author's email is
    out: the process catches up with the quote's status instead of skipping the sending."""
    h = harness
    team = await factories.sales_team(h.sessions)
    quote_id, handle = await submit(h, team, "25", QuoteApprovalPolicy())
    await handle.execute_update(QuoteApproval.submission_outcome)

    await handle.execute_update(QuoteApproval.decide, decision(team.manager, True, "go"))
    state = await handle.execute_update(QuoteApproval.send_to_customer,
                                        QuoteSending(team.rep.id, team.rep.role))
    assert state.status == "sent"

    [offer] = await eventually(lambda: h.mail.to("jane@acme.example"))
    assert offer.purpose == "submission_1:sent"
    [told] = await eventually(lambda: h.mail.to("alice@crm.example"))
    assert "is approved" in told.subject
    assert [s for s, _ in await statuses(h, quote_id)] == [
        "pending_approval", "validated", "sent"]
    await handle.terminate("test over")


async def test_self_approval_other_teams_and_non_managers_are_refused(harness: Harness) -> None:
    h = harness
    team = await factories.sales_team(h.sessions)
    _, handle = await submit(h, team, "30", QuoteApprovalPolicy())
    await handle.execute_update(QuoteApproval.submission_outcome)

    refusals = []
    for who in (team.rep, team.other_rep, team.foreign_manager):
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(QuoteApproval.decide, decision(who, True))
        assert isinstance(refused.value.cause, ApplicationError)
        refusals.append((refused.value.cause.type, refused.value.cause.message))
    assert refusals == [
        ("NotAllowed", "the author of a quote cannot approve or reject it"),
        ("NotAllowed", "only a sales manager or an admin decides on a quote"),
        ("NotAllowed", "only a manager of the quote's team decides on it"),
    ]
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(QuoteApproval.decide, decision(team.manager, False, None))
    assert refused.value.cause.type == "MissingInformation"

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(
            QuoteApproval.send_to_customer, QuoteSending(team.rep.id, team.rep.role)
        )
    assert refused.value.cause.type == "WrongStatus"
    assert "only a validated quote can be sent" in refused.value.cause.message
    assert (await handle.query(QuoteApproval.current_state)).status == "pending_approval"
    await handle.terminate("test over")


async def test_rejection_goes_back_to_the_author(harness: Harness) -> None:
    h = harness
    team = await factories.sales_team(h.sessions)
    _, handle = await submit(h, team, "40", QuoteApprovalPolicy())
    await handle.execute_update(QuoteApproval.submission_outcome)
    state = await handle.execute_update(
        QuoteApproval.decide, decision(team.other_manager, False, "40 % is too much")
    )
    assert state.status == "rejected"
    assert (await handle.result()).status == "rejected"
    mail = h.mail.to("alice@crm.example")
    assert [m.purpose for m in mail] == ["submission_1:decided"]
    assert "40 % is too much" in mail[0].text


async def test_no_decision_in_five_days_validates_by_rule(harness: Harness) -> None:
    h = harness
    team = await factories.sales_team(h.sessions)
    quote_id, handle = await submit(h, team, "25", QuoteApprovalPolicy())
    # Awaiting the result lets the server skip time: 5 days of approval, then 30 of validity.
    assert (await handle.result()).status == "expired"
    assert await statuses(h, quote_id) == [
        ("pending_approval", "discount 25 % above the 20 % threshold"),
        ("validated", "no decision within 5 days: validated by rule"),
        ("expired", "not sent within 30 days"),
    ]
    purposes = [m.purpose for m in h.mail.to("maria@crm.example")]
    assert purposes == [
        f"submission_1:pending_approval:approval_request:0:{team.manager.id}",
        *[f"submission_1:pending_approval:approval_reminder:{n}:{team.manager.id}"
          for n in (1, 2, 3, 4)],
    ]


async def test_timeout_can_reject_by_policy(harness: Harness) -> None:
    h = harness
    team = await factories.sales_team(h.sessions)
    quote_id, handle = await submit(h, team, "25", QuoteApprovalPolicy(on_timeout="reject"))
    assert (await handle.result()).status == "rejected"
    assert (await statuses(h, quote_id))[-1] == (
        "rejected", "no decision within 5 days: rejected by rule"
    )


async def test_timeout_can_escalate_to_the_admin_who_decides(harness: Harness) -> None:
    h = harness
    team = await factories.sales_team(h.sessions)
    policy = QuoteApprovalPolicy(on_timeout="escalate", approval_timeout=timedelta(days=2),
                                 reminder_every=timedelta(days=3))
    _, handle = await submit(h, team, "25", policy)
    await handle.execute_update(QuoteApproval.submission_outcome)
    await h.env.sleep(timedelta(days=2, hours=1))
    assert (await handle.query(QuoteApproval.current_state)).status == "escalated"
    admin_mail = h.mail.to("ada@crm.example")
    assert [m.purpose for m in admin_mail] == [
        f"submission_1:escalated:approval_request:0:{team.admin.id}"
    ]
    assert admin_mail[0].subject.startswith("Escalated: approve quote")
    state = await handle.execute_update(QuoteApproval.decide, decision(team.admin, True, "ok"))
    assert state.status == "validated"
    await handle.terminate("test over")


async def test_escalation_without_answer_rejects(harness: Harness) -> None:
    h = harness
    team = await factories.sales_team(h.sessions)
    policy = QuoteApprovalPolicy(on_timeout="escalate")
    quote_id, handle = await submit(h, team, "25", policy)
    assert (await handle.result()).status == "rejected"
    assert [s for s, _ in await statuses(h, quote_id)] == [
        "pending_approval", "escalated", "rejected"
    ]


async def test_customer_silence_expires_a_sent_quote(harness: Harness) -> None:
    h = harness
    team = await factories.sales_team(h.sessions)
    quote_id, handle = await submit(h, team, "0", QuoteApprovalPolicy(
        quote_validity=timedelta(days=10)))
    await handle.execute_update(QuoteApproval.submission_outcome)
    state = await handle.execute_update(
        QuoteApproval.send_to_customer, QuoteSending(team.rep.id, team.rep.role)
    )
    assert state.valid_until is not None
    assert (await handle.result()).status == "expired"
    assert (await statuses(h, quote_id))[-1] == (
        "expired", "no answer from the customer within 10 days"
    )


async def test_customer_declines(harness: Harness) -> None:
    h = harness
    team = await factories.sales_team(h.sessions)
    quote_id, handle = await submit(h, team, "0", QuoteApprovalPolicy())
    await handle.execute_update(QuoteApproval.submission_outcome)
    await handle.execute_update(QuoteApproval.send_to_customer,
                                QuoteSending(team.rep.id, team.rep.role))
    state = await handle.execute_update(
        QuoteApproval.customer_answered, CustomerResponse(False, team.rep.id, "too expensive")
    )
    assert state.status == "lost"
    assert (await statuses(h, quote_id))[-1] == ("lost", "too expensive")
    await handle.result()
    assert [m.subject for m in h.mail.to("alice@crm.example")] == ["Quote 1 for Acme: lost"]
