"""LeadToSale: nurturing, the white-paper feedback loop, hand-over to a rep, qualification."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError

from crm import db
from crm.models import Account, Contact, Lead, Task
from crm.repo import history
from tests import factories
from tests.waiting import eventually
from tests.workflows.conftest import Harness
from tests.workflows.starts import start_lead
from workflows.lead_to_sale import (
    ContentDownload,
    LeadNurturingPolicy,
    LeadToSale,
    MarketingResponse,
    Qualification,
    QuoteProgress,
)

DAY = timedelta(days=1)
POLICY = LeadNurturingPolicy(
    step_delay=DAY, content_wait=2 * DAY, max_loops=2, call_task_due=DAY, lead_ttl=30 * DAY
)


async def start(h: Harness, lead: Lead, policy: LeadNurturingPolicy = POLICY) -> WorkflowHandle:
    return await start_lead(h.env.client, h.task_queue, lead, policy)


def sent_to_lead(h: Harness) -> list[str]:
    return [m.purpose for m in h.mail.to("jane@acme.example")]


async def lead_history(h: Harness, lead_id: int) -> list[str]:
    async with db.unit_of_work(h.sessions) as session:
        rows = await history.history_of(session=session, object_type="lead", object_id=lead_id)
        return [r.to_status for r in rows]


async def tasks_of(h: Harness, lead_id: int) -> list[Task]:
    async with db.unit_of_work(h.sessions) as session:
        return list(await session.scalars(
            select(Task).where(Task.related_type == "lead", Task.related_id == lead_id)
            .order_by(Task.id)
        ))


async def test_without_download_the_loop_sends_more_case_studies_then_the_offer(
    harness: Harness,
) -> None:
    h = harness
    lead = await factories.lead(h.sessions)
    handle = await start(h, lead)

    result = await handle.result()

    assert sent_to_lead(h) == [
        "welcome", "case_study", "white_paper", "case_study_2", "case_study_3",
        "promotional_offer",
    ]
    assert result.status == "dormant"
    assert await lead_history(h, lead.id) == ["nurturing", "dormant"]
    assert await tasks_of(h, lead.id) == []


async def test_white_paper_download_hands_the_lead_to_a_rep_then_demo(harness: Harness) -> None:
    h = harness
    team = await factories.sales_team(h.sessions)
    lead = await factories.lead(h.sessions, team_id=team.rep.team_id)
    handle = await start(h, lead)
    await h.env.sleep(2 * DAY + timedelta(hours=1))
    assert sent_to_lead(h) == ["welcome", "case_study", "white_paper"]

    downloaded_at = await h.env.get_current_time()
    await handle.signal(LeadToSale.content_downloaded, ContentDownload("white_paper"))
    rep_mail = await eventually(lambda: h.mail.to(team.rep.email))
    assert rep_mail[0].purpose == "rep_notified"
    assert "Jane Buyer" in rep_mail[0].subject

    result = await handle.result()
    assert sent_to_lead(h) == [
        "welcome", "case_study", "white_paper", "demo_proposal", "promotional_offer"
    ]
    assert result.status == "dormant"
    assert await lead_history(h, lead.id) == ["nurturing", "engaged", "dormant"]
    [task] = await tasks_of(h, lead.id)
    assert (task.kind, task.assignee_id, task.status) == ("call_lead", team.rep.id, "open")
    assert task.due_at is not None
    assert abs(task.due_at - (downloaded_at + DAY)) < timedelta(minutes=5)
    async with db.unit_of_work(h.sessions) as session:
        assert (await session.get(Lead, lead.id)).owner_id == team.rep.id  # type: ignore[union-attr]


async def test_demo_request_jumps_to_the_demo_step(harness: Harness) -> None:
    h = harness
    team = await factories.sales_team(h.sessions)
    lead = await factories.lead(h.sessions, team_id=team.rep.team_id)
    handle = await start(h, lead)
    await eventually(lambda: sent_to_lead(h) == ["welcome"])

    await handle.signal(LeadToSale.demo_requested)

    await eventually(lambda: sent_to_lead(h) == ["welcome", "demo_proposal"])
    [task] = await eventually(lambda: tasks_of(h, lead.id))
    assert task.kind == "call_lead" and "asked for a demo" in task.title
    assert (await handle.result()).status == "dormant"
    assert sent_to_lead(h) == ["welcome", "demo_proposal", "promotional_offer"]


async def test_unsubscribe_stops_marketing_email_for_good(harness: Harness) -> None:
    h = harness
    lead = await factories.lead(h.sessions)
    handle = await start(h, lead)
    await h.env.sleep(DAY + timedelta(hours=1))
    assert sent_to_lead(h) == ["welcome", "case_study"]

    await handle.signal(LeadToSale.unsubscribed)
    await handle.signal(LeadToSale.content_downloaded, ContentDownload("white_paper"))

    assert (await handle.result()).status == "dormant"
    assert sent_to_lead(h) == ["welcome", "case_study"]


async def test_qualification_needs_need_and_budget_and_the_owner(harness: Harness) -> None:
    h = harness
    team = await factories.sales_team(h.sessions)
    lead = await factories.lead(h.sessions, team_id=team.rep.team_id, owner_id=team.rep.id)
    handle = await start(h, lead)

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(
            LeadToSale.qualify, Qualification(True, team.rep.id, "sales_rep", need="a CRM")
        )
    assert refused.value.cause.type == "MissingInformation"
    assert refused.value.cause.details == ({"missing": ["budget"]},)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(
            LeadToSale.qualify,
            Qualification(True, team.other_rep.id, "sales_rep", need="x", budget=Decimal(1)),
        )
    assert refused.value.cause.message == "this lead belongs to another sales rep"

    state = await handle.execute_update(
        LeadToSale.qualify,
        Qualification(True, team.rep.id, "sales_rep", "budget confirmed", "a CRM",
                      Decimal("12000")),
    )
    assert state.status == "qualified"
    async with db.unit_of_work(h.sessions) as session:
        row = await session.get(Lead, lead.id)
        assert row is not None and row.status == "qualified"
        account = await session.get(Account, row.account_id)
        contact = await session.get(Contact, row.contact_id)
        assert account is not None and account.name == "Acme"
        assert contact is not None and contact.email == "jane@acme.example"
        assert row.budget == Decimal("12000")

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(
            LeadToSale.qualify,
            Qualification(True, team.rep.id, "sales_rep", need="x", budget=Decimal(1)),
        )
    assert refused.value.cause.type == "WrongStatus"

    # Nurturing stopped with qualification; a positive response gives the owner a follow-up.
    await handle.signal(LeadToSale.marketing_response, MarketingResponse("spring webinar"))
    [task] = await eventually(lambda: tasks_of(h, lead.id))
    assert (task.kind, task.assignee_id) == ("sales_follow_up", team.rep.id)
    assert "spring webinar" in task.title

    # A quote opens, then is won: the lead's process ends as won.
    await handle.signal(LeadToSale.quote_progress, QuoteProgress(7, "validated"))
    await handle.signal(LeadToSale.quote_progress, QuoteProgress(7, "won"))
    result = await handle.result()
    assert (result.status, result.won_quote_id) == ("won", 7)
    assert await lead_history(h, lead.id) == ["nurturing", "qualified", "won"]
    assert sent_to_lead(h) == ["welcome"]


async def test_an_open_quote_keeps_the_lead_from_going_dormant(harness: Harness) -> None:
    h = harness
    team = await factories.sales_team(h.sessions)
    lead = await factories.lead(h.sessions, team_id=team.rep.team_id, owner_id=team.rep.id)
    handle = await start(h, lead, LeadNurturingPolicy(step_delay=DAY, lead_ttl=10 * DAY))
    await handle.execute_update(
        LeadToSale.qualify,
        Qualification(True, team.rep.id, "sales_rep", None, "a CRM", Decimal(5000)),
    )
    await handle.signal(LeadToSale.quote_progress, QuoteProgress(3, "pending_approval"))
    await h.env.sleep(25 * DAY)
    assert (await handle.query(LeadToSale.current_state)).status == "qualified"
    await handle.signal(LeadToSale.quote_progress, QuoteProgress(3, "expired"))
    assert (await handle.result()).status == "dormant"


async def test_disqualification_needs_a_reason_and_ends_the_process(harness: Harness) -> None:
    h = harness
    team = await factories.sales_team(h.sessions)
    lead = await factories.lead(h.sessions, team_id=team.rep.team_id)
    handle = await start(h, lead)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(
            LeadToSale.qualify, Qualification(False, team.manager.id, "sales_manager")
        )
    assert refused.value.cause.details == ({"missing": ["reason"]},)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(
            LeadToSale.qualify, Qualification(False, team.admin.id, "accountant", "no")
        )
    assert refused.value.cause.type == "NotAllowed"

    state = await handle.execute_update(
        LeadToSale.qualify, Qualification(False, team.manager.id, "sales_manager", "a student")
    )
    assert state.status == "disqualified"
    assert (await handle.result()).status == "disqualified"
    async with db.unit_of_work(h.sessions) as session:
        row = await session.get(Lead, lead.id)
        assert row is not None and row.status_reason == "a student"
