"""Races between a person's message and the process's own step: whichever is first wins, the
other is refused saying what came first — never accepted with another outcome.

The process's own step is held in the middle of recording its status (the row it writes is
locked by the test, as a slow database would). A workflow task stays open while a local
activity runs, but not forever: after 80 % of the task timeout the worker completes it and
messages get in while the write is still under way. The tests shorten the task timeout to
2 s (10 s by default) and hold the write past it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from temporalio.client import WorkflowUpdateFailedError

from crm import db
from crm.models import Lead, Quote, Task
from crm.repo import history
from tests import factories
from tests.waiting import eventually
from tests.workflows.conftest import Harness
from tests.workflows.starts import start_lead, submit_quote
from workflows.lead_to_sale import ContentDownload, LeadNurturingPolicy, LeadToSale, Qualification
from workflows.quote_approval import (
    CustomerResponse,
    ManagerDecision,
    QuoteApproval,
    QuoteApprovalPolicy,
    QuoteSending,
)

DAY = timedelta(days=1)
TASK_TIMEOUT = timedelta(seconds=2)
SQLITE_WRITER_STARTS = 3.0
"""Seconds after which a process's write has surely begun on SQLite (about 0.1 s when idle;
under a loaded CI machine a second was seen not to be enough)."""
PAST_THE_TASK = 4.0
"""Seconds to hold a write so that the workflow task waiting for it is completed, and the
message is delivered in the next one while the write still waits."""


@asynccontextmanager
async def row_held(sessions: db.Sessions, model: Any, object_id: int) -> AsyncIterator[None]:
    """Hold the row (PostgreSQL), or the database's write lock (SQLite), until the block
    ends: a process recording a status of this object waits meanwhile."""
    async with sessions() as session, session.begin():
        await session.get(model, object_id, with_for_update=True)
        yield


async def a_writer_waits(sessions: db.Sessions) -> None:
    """Return once a process is waiting for the held row (PostgreSQL shows it)."""
    async with sessions() as session:
        if session.bind.dialect.name != "postgresql":
            # SQLite has no view of who waits for its lock: give the workflow task that
            # starts the write time to run, with room for a loaded machine.
            await asyncio.sleep(SQLITE_WRITER_STARTS)
            return

    async def waiting() -> bool:
        async with sessions() as session:
            count = await session.scalar(text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database()"))
            return bool(count)

    await eventually(waiting, timeout=30)


async def while_it_writes() -> None:
    """Hold the write while the workflow task waiting for it is completed and the message
    is delivered in the next one."""
    await asyncio.sleep(PAST_THE_TASK)


async def statuses(h: Harness, object_type: str, object_id: int) -> list[tuple[str, str | None]]:
    async with db.unit_of_work(h.sessions) as session:
        rows = await history.history_of(session=session, object_type=object_type,
                                        object_id=object_id)
        return [(r.to_status, r.reason) for r in rows]


async def test_a_rejection_racing_the_timeout_rule_is_refused_naming_the_rule(
    harness_on_both: Harness,
) -> None:
    h = harness_on_both
    team = await factories.sales_team(h.sessions)
    policy = QuoteApprovalPolicy(approval_timeout=timedelta(hours=1), reminder_every=DAY)
    quote_id, handle = await submit_quote(h.env.client, h.task_queue, h.sessions, team.rep,
                                          "25", policy, task_timeout=TASK_TIMEOUT)
    assert (await handle.execute_update(QuoteApproval.submission_outcome)).status == (
        "pending_approval")
    await eventually(lambda: len(h.mail.messages) == 2)  # both managers asked: all quiet

    async with row_held(h.sessions, Quote, quote_id):
        clock = asyncio.create_task(h.env.sleep(timedelta(hours=1, minutes=1)))
        await a_writer_waits(h.sessions)  # "validated by rule" is being recorded
        rejection = asyncio.create_task(handle.execute_update(
            QuoteApproval.decide,
            ManagerDecision(False, team.manager.id, team.manager.role, team.manager.team_id,
                            "far too much")))
        await while_it_writes()
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await rejection
    await clock

    assert refused.value.cause.type == "WrongStatus"
    assert refused.value.cause.message == (
        f"quote {quote_id} is validated (no decision within 1 hour: validated by rule), so it "
        f"cannot be approved or rejected: only a quote pending approval can")
    state = await handle.query(QuoteApproval.current_state)
    assert (state.status, state.decided_by) == ("validated", None)
    assert [s for s, _ in await statuses(h, "quote", quote_id)] == [
        "pending_approval", "validated"]
    await handle.terminate("test over")


async def test_a_customer_answer_racing_the_expiry_is_refused_naming_it(
    harness_on_both: Harness,
) -> None:
    h = harness_on_both
    team = await factories.sales_team(h.sessions)
    policy = QuoteApprovalPolicy(quote_validity=DAY)
    quote_id, handle = await submit_quote(h.env.client, h.task_queue, h.sessions, team.rep,
                                          "5", policy, task_timeout=TASK_TIMEOUT)
    await handle.execute_update(QuoteApproval.submission_outcome)
    await handle.execute_update(QuoteApproval.send_to_customer,
                                QuoteSending(team.rep.id, team.rep.role))
    await eventually(lambda: h.mail.to("jane@acme.example"))

    async with row_held(h.sessions, Quote, quote_id):
        clock = asyncio.create_task(h.env.sleep(DAY + timedelta(hours=1)))
        await a_writer_waits(h.sessions)  # "expired" is being recorded
        answer = asyncio.create_task(handle.execute_update(
            QuoteApproval.customer_answered, CustomerResponse(True, team.rep.id, "signed")))
        await while_it_writes()
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await answer
    await clock

    assert refused.value.cause.type == "WrongStatus"
    assert refused.value.cause.message.startswith(
        f"quote {quote_id} is expired (no answer from the customer within 1 day)")
    assert (await handle.result()).status == "expired"
    async with db.unit_of_work(h.sessions) as session:
        from crm.models import Sale

        assert await session.scalar(select(func.count(Sale.id))) == 0


async def test_a_lead_disqualified_while_being_handed_over_stays_disqualified(
    harness_on_both: Harness,
) -> None:
    h = harness_on_both
    team = await factories.sales_team(h.sessions)
    lead = await factories.lead(h.sessions, team_id=team.rep.team_id)
    handle = await start_lead(h.env.client, h.task_queue, lead,
                              LeadNurturingPolicy(step_delay=DAY, lead_ttl=30 * DAY),
                              task_timeout=TASK_TIMEOUT)
    await eventually(lambda: h.mail.to(lead.email))

    async with row_held(h.sessions, Lead, lead.id):
        await handle.signal(LeadToSale.content_downloaded, ContentDownload("white_paper"))
        await a_writer_waits(h.sessions)  # "engaged" is being recorded
        disqualify = asyncio.create_task(handle.execute_update(
            LeadToSale.qualify,
            Qualification(False, team.manager.id, team.manager.role, "works for a competitor")))
        await while_it_writes()
    assert (await disqualify).status == "disqualified"
    assert (await handle.result()).status == "disqualified"

    assert [s for s, _ in await statuses(h, "lead", lead.id)] == [
        "nurturing", "engaged", "disqualified"]
    # No "call this lead" for a disqualified lead:
    assert [m.purpose for m in h.mail.to(team.rep.email)] == []
    async with db.unit_of_work(h.sessions) as session:
        tasks = await session.scalar(select(func.count(Task.id)).where(
            Task.related_type == "lead", Task.related_id == lead.id))
        row = await session.get(Lead, lead.id)
    assert tasks == 0
    assert row is not None and row.status == "disqualified"
