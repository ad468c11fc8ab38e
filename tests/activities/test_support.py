"""Routing a ticket: the assignment is atomic, so tickets routed at the same moment (two
workers, PostgreSQL) never push an agent past the policy's capacity."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select
from temporalio.testing import ActivityEnvironment

from activities.support import SupportActivities
from crm import db
from crm.models import Ticket
from crm.repo import tickets
from tests import factories
from workflows.contracts import Person
from workflows.support_types import TicketToRoute


async def _tickets(sessions: db.Sessions, category: str, count: int) -> list[int]:
    async with db.unit_of_work(sessions) as session:
        return [(await tickets.create_ticket(
            session=session, requester_email=f"c{n}@acme.example", requester_name=f"C{n}",
            subject=f"Help {n}", category=category)).id for n in range(count)]


async def test_tickets_routed_at_once_fill_each_agent_to_capacity_and_no_further(
    sessions: db.Sessions, database_url: str,
) -> None:
    team = await factories.support_team(sessions)  # Sam and Tia both take general tickets
    ids = await _tickets(sessions, "general", 7)
    # Each routing as a worker does it: its own activity, its own connection.
    engines = [db.create_engine(database_url) for _ in ids]
    try:
        agents = await asyncio.gather(*(
            ActivityEnvironment().run(SupportActivities(db.create_sessions(engine)).assign_ticket,
                                      TicketToRoute(ticket_id, "general", 3))
            for ticket_id, engine in zip(ids, engines, strict=True)))
    finally:
        await asyncio.gather(*(engine.dispose() for engine in engines))
    assert sorted(a.user_id for a in agents if a is not None) == [
        team.agent.id] * 3 + [team.other_agent.id] * 3
    assert agents.count(None) == 1  # the seventh waits in the team queue
    async with db.unit_of_work(sessions) as session:
        loads = dict((await session.execute(
            select(Ticket.assignee_id, func.count(Ticket.id)).group_by(Ticket.assignee_id)
        )).all())
    assert loads == {team.agent.id: 3, team.other_agent.id: 3, None: 1}


async def test_a_ticket_keeps_its_agent_when_its_assignment_is_tried_again(
    sessions: db.Sessions,
) -> None:
    team = await factories.support_team(sessions)
    first, second = await _tickets(sessions, "billing", 2)
    support = SupportActivities(sessions)
    env = ActivityEnvironment()
    sam = Person(team.agent.id, team.agent.name, team.agent.email)
    assert await env.run(support.assign_ticket, TicketToRoute(first, "billing", 1)) == sam
    # Tried again (a retry after a lost answer): the same agent, not counted twice.
    assert await env.run(support.assign_ticket, TicketToRoute(first, "billing", 1)) == sam
    # Sam is full (capacity 1) and nobody else handles billing.
    assert await env.run(support.assign_ticket, TicketToRoute(second, "billing", 1)) is None
    async with db.unit_of_work(sessions) as session:
        rows = [await tickets.get_ticket(session=session, ticket_id=t) for t in (first, second)]
        assert [row.assignee_id for row in rows] == [sam.user_id, None]


async def test_nobody_with_the_category_as_a_skill_means_the_team_queue(
    sessions: db.Sessions,
) -> None:
    await factories.support_team(sessions)
    (ticket_id,) = await _tickets(sessions, "legal", 1)
    assert await ActivityEnvironment().run(SupportActivities(sessions).assign_ticket,
                                           TicketToRoute(ticket_id, "legal", 20)) is None
