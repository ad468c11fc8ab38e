"""Races between a person's message and the process's own step: whichever is first wins, the
other is refused saying what came first — never accepted with another outcome.

The process's own step is held in the middle of recording its status (the row it writes is
locked by the test, as a slow database would): the workflow task that asked for the write
is completed, the write's activity waits, and the message comes in meanwhile.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError

from crm import db
from crm.models import Lead, Quote, Task
from crm.repo import history
from tests import factories
from tests.waiting import eventually
from tests.workflows.conftest import Harness
from tests.workflows.starts import start_lead, submit_quote
from workflows.contracts import RECORD_STATUS
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


@asynccontextmanager
async def row_held(sessions: db.Sessions, model: Any, object_id: int) -> AsyncIterator[None]:
    """Hold the row (PostgreSQL), or the database's write lock (SQLite), until the block
    ends: a process recording a status of this object waits meanwhile."""
    async with sessions() as session, session.begin():
        await session.get(model, object_id, with_for_update=True)
        yield


async def quiet(handle: WorkflowHandle[Any, Any]) -> None:
    """Return once the process has no activity under way: an email the SMTP server took is
    also marked sent (on SQLite, a held write lock would stop that, and with it the clock)."""
    async def idle() -> bool:
        return not (await handle.describe()).raw_description.pending_activities

    await eventually(idle, timeout=30)


async def a_writer_waits(handle: WorkflowHandle[Any, Any],
                         activity: str | None = RECORD_STATUS) -> None:
    """Return once a worker is running the process's write (``activity``, or any, waiting
    for the held row): the workflow task that asked for the write has been completed."""
    async def writing() -> bool:
        pending = (await handle.describe()).raw_description.pending_activities
        return any(activity in (None, a.activity_type.name)
                   and a.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
                   for a in pending)

    await eventually(writing, timeout=30)


async def delivered(handle: WorkflowHandle[Any, Any], message: asyncio.Task[Any]) -> None:
    """Return once the process has taken the message while the write still waits: refused
    by its validator, or accepted (then its handler waits for the change under way)."""
    async def taken() -> bool:
        if message.done():
            return True
        history = await handle.fetch_history()
        return any(e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
                   for e in history.events)

    await eventually(taken, timeout=30)


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
    await eventually(lambda: len(h.mail.messages) == 2)  # both managers asked
    await quiet(handle)

    async with row_held(h.sessions, Quote, quote_id):
        clock = asyncio.create_task(h.env.sleep(timedelta(hours=1, minutes=1)))
        await a_writer_waits(handle)  # "validated by rule" is being recorded
        rejection = asyncio.create_task(handle.execute_update(
            QuoteApproval.decide,
            ManagerDecision(False, team.manager.id, team.manager.role, team.manager.team_id,
                            "far too much")))
        await delivered(handle, rejection)
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
    await quiet(handle)

    async with row_held(h.sessions, Quote, quote_id):
        clock = asyncio.create_task(h.env.sleep(DAY + timedelta(hours=1)))
        await a_writer_waits(handle)  # "expired" is being recorded
        answer = asyncio.create_task(handle.execute_update(
            QuoteApproval.customer_answered, CustomerResponse(True, team.rep.id, "signed")))
        await delivered(handle, answer)
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
    await quiet(handle)

    async with row_held(h.sessions, Lead, lead.id):
        await handle.signal(LeadToSale.content_downloaded, ContentDownload("white_paper"))
        await a_writer_waits(handle)  # "engaged" is being recorded
        disqualify = asyncio.create_task(handle.execute_update(
            LeadToSale.qualify,
            Qualification(False, team.manager.id, team.manager.role, "works for a competitor")))
        await delivered(handle, disqualify)
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
