"""A task step's reminders: its person is reminded every ``remind_every`` while the task is
open, and no more once it is done or the enrolment ended — the steps going on meanwhile."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from crm import db
from crm.models import Task
from crm.repo import tasks
from tests import factories
from tests.waiting import eventually
from tests.workflows.conftest import Harness
from tests.workflows.own import enrolled, published
from workflows.own.interpreter import Cancellation, OwnWorkflow

DAY = timedelta(days=1)

CALL_BACK = """
name: Call back
object: lead
steps:
  - {id: call, task: {title: "Call {lead.name}", assign: owner, due: 2d, remind_every: 1d}}
  - id: qualified
    wait_for: {condition: 'lead.status == "qualified"', timeout: 10d}
  - {id: done, end: {outcome: waited}}
"""


async def reminders_to(h: Harness, email: str) -> list[str]:
    return [m.subject for m in h.mail.to(email) if m.subject.startswith("Reminder")]


async def test_reminders_go_out_while_the_task_is_open_then_stop(harness: Harness) -> None:
    h = harness
    team = await factories.sales_team(h.sessions)
    lead = await factories.lead(h.sessions, name="Zoé", team_id=team.rep.team_id,
                                owner_id=team.rep.id)
    definition = await published(h, CALL_BACK, team.admin)
    handle = await enrolled(h, definition.id, lead.id, team.admin)
    await h.env.sleep(2 * DAY + timedelta(hours=2))
    await eventually(lambda: len(h.mail.to(team.rep.email)) == 2)
    assert await reminders_to(h, team.rep.email) == ["Reminder 1: Call Zoé",
                                                     "Reminder 2: Call Zoé"]
    assert (await handle.query(OwnWorkflow.current)).step == "qualified"  # the steps went on

    async with db.unit_of_work(h.sessions) as session:
        task = await session.scalar(select(Task))
        assert task is not None and task.assignee_id == team.rep.id
        await tasks.complete_task(session=session, task=task, completed_by_id=team.rep.id,
                                  outcome="called")
    view = await handle.result()  # the 10-day wait runs out
    assert (view.status, view.outcome) == ("completed", "waited")
    assert len(await reminders_to(h, team.rep.email)) == 2


async def test_the_enrolment_ending_ends_its_tasks_reminders(harness: Harness) -> None:
    h = harness
    team = await factories.sales_team(h.sessions)
    lead = await factories.lead(h.sessions, name="Zoé", team_id=team.rep.team_id,
                                owner_id=team.rep.id)
    definition = await published(h, CALL_BACK, team.admin)
    handle = await enrolled(h, definition.id, lead.id, team.admin)
    await h.env.sleep(DAY + timedelta(hours=2))
    await eventually(lambda: len(h.mail.to(team.rep.email)) == 1)
    view = await handle.execute_update(OwnWorkflow.cancel,
                                       Cancellation(team.admin.id, "the lead called us"))
    assert view.status == "cancelled"
    await handle.result()
    await h.env.sleep(3 * DAY)
    assert await reminders_to(h, team.rep.email) == ["Reminder 1: Call Zoé"]
    async with h.sessions() as session:
        assert (await session.scalar(select(Task))).status == "open"  # the task stays
