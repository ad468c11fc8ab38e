"""The predefined definitions give the built-in processes' timelines: the same emails at
the same times on the same events, side by side on the time-skipping server — the built-in
lead process (default policy) and seed 001's nurturing as a definition; the built-in quote
process (default policy) and seed 000's quote rule as a definition."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter

from crm.own import reading
from crm.policies import Policies
from tests import factories
from tests.waiting import eventually
from tests.workflows.conftest import Harness
from tests.workflows.own import enrolled, published
from tests.workflows.starts import start_lead, submit_quote
from workflows.contracts import SEND_EMAIL, EmailToSend
from workflows.lead_to_sale import ContentDownload, LeadNurturingPolicy, LeadToSale
from workflows.own.interpreter import ApprovalDecision, OwnWorkflow
from workflows.quote_approval import QuoteApproval, QuoteApprovalPolicy
from workflows.quote_types import ManagerDecision

DAY = timedelta(days=1)
SAME_EMAIL = {"another_case_study": "case_study", "offer": "promotional_offer",
              "offer_anyway": "promotional_offer"}
"""The definition's steps that send one of the built-in emails under another name."""


async def emails_asked(handle: WorkflowHandle[Any, Any]) -> list[tuple[EmailToSend, timedelta]]:
    """Each email the run asked for, with when (from its start)."""
    history = await handle.fetch_history()
    start = history.events[0].event_time.ToDatetime()
    found = []
    for event in history.events:
        scheduled = event.activity_task_scheduled_event_attributes
        if event.HasField("activity_task_scheduled_event_attributes") and (
                scheduled.activity_type.name == SEND_EMAIL):
            [email] = pydantic_data_converter.payload_converter.from_payloads(
                list(scheduled.input.payloads), [EmailToSend])
            found.append((email, event.event_time.ToDatetime() - start))
    return found


async def emails_sent(handle: WorkflowHandle[Any, Any]) -> list[tuple[str, timedelta]]:
    """Each email the run asked for to its lead, by its built-in name, with when (from its
    start, to the minute)."""
    found = []
    for email, at in await emails_asked(handle):
        if email.to not in LEADS:
            continue  # the rep told of an interested lead
        name = re.sub(r"(_\d+)$|:\d+$", "", email.purpose)
        found.append((SAME_EMAIL.get(name, name), timedelta(minutes=round(at / MINUTE))))
    return found


MINUTE = timedelta(minutes=1)
LEADS = ("jane@acme.example", "zoe@acme.example")


async def side_by_side(h: Harness) -> tuple[WorkflowHandle[Any, Any], WorkflowHandle[Any, Any]]:
    """The built-in process on one lead, the predefined definition on another, both started
    now."""
    team = await factories.sales_team(h.sessions)
    built_in = await factories.lead(h.sessions, email="jane@acme.example",
                                    team_id=team.rep.team_id)
    own = await factories.lead(h.sessions, email="zoe@acme.example", name="Zoé",
                               team_id=team.rep.team_id)
    definition = await published(h, reading.predefined()["lead-nurturing"], team.admin)
    process = await start_lead(h.env.client, h.task_queue, built_in, LeadNurturingPolicy())
    return process, await enrolled(h, definition.id, own.id, team.admin)


def test_the_predefined_definitions_are_valid() -> None:
    texts = reading.predefined()
    assert sorted(texts) == ["lead-nurturing", "quote-approval"]
    for text in texts.values():
        assert reading.definition(reading.parse_text(text), Policies()).steps


async def test_nurturing_without_a_download_loops_then_offers_as_the_built_in_does(
    harness: Harness,
) -> None:
    h = harness
    process, enrolment = await side_by_side(h)
    view = await enrolment.result()
    assert (view.status, view.outcome) == ("completed", "never read the white paper")
    await eventually(lambda: len(h.mail.to("jane@acme.example")) == 6)

    expected = [("welcome", 0 * DAY), ("case_study", 3 * DAY), ("white_paper", 6 * DAY),
                ("case_study", 13 * DAY), ("case_study", 20 * DAY),
                ("promotional_offer", 27 * DAY)]
    assert await emails_sent(process) == expected
    assert await emails_sent(enrolment) == expected
    assert [m.subject for m in h.mail.to("zoe@acme.example")] == [
        m.subject.replace("Jane Buyer", "Zoé") for m in h.mail.to("jane@acme.example")]


async def test_a_download_during_the_wait_leads_to_the_demo_as_the_built_in_does(
    harness: Harness,
) -> None:
    h = harness
    process, enrolment = await side_by_side(h)
    await h.env.sleep(8 * DAY)  # the white paper went out on day 6
    await process.signal(LeadToSale.content_downloaded, ContentDownload("white_paper"))
    await enrolment.signal(OwnWorkflow.event_happened, "content_downloaded")

    view = await enrolment.result()
    assert (view.status, view.outcome) == ("completed", "read the white paper")
    await eventually(lambda: len(h.mail.to("jane@acme.example")) == 5)
    built_in, own = await emails_sent(process), await emails_sent(enrolment)
    assert [name for name, _ in own] == [name for name, _ in built_in] == [
        "welcome", "case_study", "white_paper", "demo_proposal", "promotional_offer"]
    # The same times: the download came on day 8 (to the minute, as both were told within
    # a second), the demo 3 days later, the offer 3 days after that.
    assert own == built_in
    assert [at for _, at in own[3:]] == [11 * DAY, 14 * DAY]


async def approval_emails(handle: WorkflowHandle[Any, Any]) -> list[tuple[str, str, timedelta]]:
    """Each email of the approval: to whom, which (request, reminder n, decided), when."""
    found = []
    for email, at in await emails_asked(handle):
        # Built-in: submission_1:pending_approval:approval_reminder:2:7, submission_1:decided;
        # the definition's: approval:1:asked:2:7, tell_approved:1.
        parts = email.purpose.split(":")
        if "decided" in parts or parts[0] in ("tell_approved", "tell_rejected"):
            kind = "decided"
        elif len(parts) >= 4:
            reminder = int(parts[-2])
            kind = f"reminder {reminder}" if reminder else "request"
        else:
            continue  # the built-in's later emails (the outcome, the quote sent)
        found.append((email.to, kind, timedelta(minutes=round(at / MINUTE))))
    return sorted(found, key=lambda e: (e[2], e[1], e[0]))


async def quote_side_by_side(
    h: Harness,
) -> tuple[factories.SalesTeam, WorkflowHandle[Any, Any], WorkflowHandle[Any, Any]]:
    """The built-in process on one quote (25 %), the predefined rule on another, both now."""
    team = await factories.sales_team(h.sessions)
    _, process = await submit_quote(h.env.client, h.task_queue, h.sessions, team.rep, "25",
                                    QuoteApprovalPolicy())
    lead = await factories.qualified_lead(h.sessions, team.rep)
    quote = await factories.quote(h.sessions, lead, team.rep, discount_pct="25")
    definition = await published(h, reading.predefined()["quote-approval"], team.admin)
    return team, process, await enrolled(h, definition.id, quote.id, team.admin)


async def test_a_quote_nobody_decides_is_approved_on_day_5_as_the_built_in_does(
    harness: Harness,
) -> None:
    h = harness
    team, process, enrolment = await quote_side_by_side(h)
    view = await enrolment.result()
    assert (view.status, view.outcome) == ("completed", "approved")
    await eventually(lambda: len(h.mail.to(team.manager.email)) == 10)
    assert (await process.query(QuoteApproval.current_state)).status == "validated"

    managers = sorted([team.manager.email, team.other_manager.email])
    expected = sorted(
        [(m, "request", 0 * DAY) for m in managers]
        + [(m, f"reminder {n}", n * DAY) for m in managers for n in range(1, 5)],
        key=lambda e: (e[2], e[1], e[0]))  # the author hears it at the quote's end
    assert await approval_emails(process) == expected
    assert await approval_emails(enrolment) == expected


async def test_a_manager_rejecting_on_day_2_is_heard_as_the_built_in_hears_it(
    harness: Harness,
) -> None:
    h = harness
    team, process, enrolment = await quote_side_by_side(h)
    await h.env.sleep(2 * DAY + timedelta(hours=2))
    manager = team.manager
    await process.execute_update(QuoteApproval.decide, ManagerDecision(
        False, manager.id, manager.role, manager.team_id, "too generous"))
    await enrolment.execute_update(OwnWorkflow.decide, ApprovalDecision(
        manager.id, manager.role, manager.team_id, False, "too generous"))

    view = await enrolment.result()
    assert (view.status, view.outcome) == ("completed", "rejected")
    await eventually(lambda: len(h.mail.to(team.rep.email)) == 2)
    built_in, own = await approval_emails(process), await approval_emails(enrolment)
    assert [e[:2] for e in own] == [e[:2] for e in built_in]
    assert own == built_in
    assert own[-1][:2] == (team.rep.email, "decided")
