"""CRM database activities: status history with who and why, tasks, people."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from temporalio.testing import ActivityEnvironment

from activities.crm_db import CrmActivities
from crm import db
from crm.models import Lead, Quote, StatusChange, Task
from tests import factories
from workflows.contracts import PeopleToFind, StatusToRecord, TaskToCreate


async def test_a_process_decision_is_recorded_once_with_the_process_as_actor(
    sessions: db.Sessions, activity_env: ActivityEnvironment
) -> None:
    lead = await factories.lead(sessions)
    crm = CrmActivities(sessions)
    change = StatusToRecord("lead", lead.id, "nurturing", "lead signed up")
    await activity_env.run(crm.record_status, change)
    await activity_env.run(crm.record_status, change)  # a retried local activity
    async with db.unit_of_work(sessions) as session:
        rows = list(await session.scalars(select(StatusChange)))
        assert [(r.to_status, r.actor, r.reason, r.workflow_id) for r in rows] == [
            ("nurturing", "lead-1", "lead signed up", "lead-1")
        ]
        row = await session.get(Lead, lead.id)
        assert row is not None and row.status == "nurturing"


async def test_a_person_decision_names_them_and_sets_the_quote_fields(
    sessions: db.Sessions, activity_env: ActivityEnvironment
) -> None:
    team = await factories.sales_team(sessions)
    lead = await factories.qualified_lead(sessions, team.rep)
    quote = await factories.quote(sessions, lead, team.rep)
    crm = CrmActivities(sessions)
    await activity_env.run(crm.record_status, StatusToRecord(
        "quote", quote.id, "validated", "fine", actor_user_id=team.manager.id))
    until = datetime(2027, 1, 1, tzinfo=UTC)
    activity_env.info = activity_env.info.__class__(**{**activity_env.info.__dict__,
                                                       "activity_id": "2"})
    await activity_env.run(crm.record_status, StatusToRecord(
        "quote", quote.id, "sent", "sent", actor_user_id=team.rep.id, holds_until=until))
    async with db.unit_of_work(sessions) as session:
        row = await session.get(Quote, quote.id)
        assert row is not None
        assert (row.status, row.decided_by_id, row.decision_comment, row.valid_until) == (
            "sent", team.manager.id, "fine", until
        )
        actors = list(await session.scalars(select(StatusChange.actor).order_by(StatusChange.id)))
        assert actors == [f"user:{team.manager.id}", f"user:{team.rep.id}"]


async def test_tasks_are_keyed_by_process_and_purpose(
    sessions: db.Sessions, activity_env: ActivityEnvironment
) -> None:
    crm = CrmActivities(sessions)
    task = TaskToCreate("call_lead", "Call Jane", "call_lead", None, related_type="lead",
                        related_id=1)
    first = await activity_env.run(crm.create_task, task)
    second = await activity_env.run(crm.create_task, task)
    assert first.task_id == second.task_id
    async with db.unit_of_work(sessions) as session:
        row = await session.get(Task, first.task_id)
        assert row is not None and row.idempotency_key == "lead-1:call_lead"


async def test_approvers_are_the_active_managers_of_the_team_but_the_author(
    sessions: db.Sessions, activity_env: ActivityEnvironment
) -> None:
    team = await factories.sales_team(sessions)
    crm = CrmActivities(sessions)
    found = await activity_env.run(crm.find_people, PeopleToFind(
        ["sales_manager"], team.manager.team_id, excluding_user_id=team.manager.id))
    assert [p.user_id for p in found] == [team.other_manager.id]
