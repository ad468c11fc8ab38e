"""Repository functions against real databases: history, tokens, rep assignment, sales."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from crm import db
from crm.errors import Conflict
from crm.models import ApiToken, Sale, StatusChange, Task, User
from crm.models.base import utcnow
from crm.repo import history, leads, people, quotes, tasks
from tests import factories
from workflows.roles import Role


async def test_a_status_change_is_recorded_once_per_key(sessions: db.Sessions) -> None:
    lead = await factories.lead(sessions)
    for _ in range(2):
        async with db.unit_of_work(sessions) as session:
            await history.change_status(
                session=session, object_type="lead", object_id=lead.id, to_status="nurturing",
                actor="lead-1", reason="signed up", idempotency_key="lead-1/run/1",
            )
    async with db.unit_of_work(sessions) as session:
        rows = await history.history_of(session=session, object_type="lead", object_id=lead.id)
        assert [(r.from_status, r.to_status, r.actor) for r in rows] == [
            ("new", "nurturing", "lead-1")
        ]
        assert rows[0].changed_at.tzinfo is not None


async def test_a_status_change_keeps_when_its_stay_began(sessions: db.Sessions) -> None:
    lead = await factories.lead(sessions)
    hours = [lead.created_at + timedelta(hours=n) for n in range(1, 5)]
    # A change to the same status (nurturing again) does not end the stay in nurturing.
    moves = ["nurturing", "nurturing", "engaged", "qualified"]
    for to_status, at in zip(moves, hours, strict=True):
        async with db.unit_of_work(sessions) as session:
            await history.change_status(session=session, object_type="lead", object_id=lead.id,
                                        to_status=to_status, actor="lead-1", at=at)
    async with db.unit_of_work(sessions) as session:
        rows = await history.history_of(session=session, object_type="lead", object_id=lead.id)
    assert [row.entered_at for row in rows] == [lead.created_at, hours[0], hours[0], hours[2]]


async def test_tokens_are_stored_hashed_and_can_be_revoked(sessions: db.Sessions) -> None:
    async with db.unit_of_work(sessions) as session:
        user = await people.create_user(session=session, name="Ann", email="ann@x.example",
                                        role=Role.ACCOUNTANT)
        token = await people.issue_token(session=session, user=user)
    async with db.unit_of_work(sessions) as session:
        stored = await session.scalar(select(ApiToken.token_hash))
        assert stored == people.hash_token(token) and token not in stored
        found = await people.user_by_token(session=session, token=token)
        assert found is not None and found.email == "ann@x.example"
        row = await session.scalar(select(ApiToken))
        assert row is not None
        row.revoked_at = utcnow()
    async with db.unit_of_work(sessions) as session:
        assert await people.user_by_token(session=session, token=token) is None


async def test_duplicate_user_email_is_refused(sessions: db.Sessions) -> None:
    async with db.unit_of_work(sessions) as session:
        await people.create_user(session=session, name="A", email="a@x.example",
                                 role=Role.ADMIN)
    with pytest.raises(Conflict):
        async with db.unit_of_work(sessions) as session:
            await people.create_user(session=session, name="B", email="a@x.example",
                                     role=Role.ADMIN)


async def test_round_robin_takes_the_team_reps_in_turn(sessions: db.Sessions) -> None:
    team = await factories.sales_team(sessions)
    owners = []
    for n in range(3):
        lead = await factories.lead(sessions, email=f"l{n}@x.example", team_id=team.rep.team_id)
        async with db.unit_of_work(sessions) as session:
            rep = await leads.assign_sales_rep(session=session, lead_id=lead.id,
                                               rule="round_robin")
            assert rep is not None
            owners.append(rep.id)
    assert owners == [team.rep.id, team.other_rep.id, team.rep.id]


async def test_least_loaded_takes_the_rep_with_fewest_open_tasks(sessions: db.Sessions) -> None:
    team = await factories.sales_team(sessions)
    async with db.unit_of_work(sessions) as session:
        for n in range(2):
            await tasks.create_task(session=session, kind="call_lead", title=f"t{n}",
                                    assignee_id=team.rep.id)
    lead = await factories.lead(sessions, team_id=team.rep.team_id)
    async with db.unit_of_work(sessions) as session:
        rep = await leads.assign_sales_rep(session=session, lead_id=lead.id, rule="least_loaded")
        assert rep is not None and rep.id == team.other_rep.id
        again = await leads.assign_sales_rep(session=session, lead_id=lead.id,
                                             rule="least_loaded")
        assert again is not None and again.id == team.other_rep.id  # an owner stays


async def test_inactive_reps_get_no_leads(sessions: db.Sessions) -> None:
    team = await factories.sales_team(sessions)
    async with db.unit_of_work(sessions) as session:
        for rep in (team.rep, team.other_rep):
            user = await session.get(User, rep.id)
            assert user is not None
            user.active = False
    lead = await factories.lead(sessions, team_id=team.rep.team_id)
    async with db.unit_of_work(sessions) as session:
        assert await leads.assign_sales_rep(session=session, lead_id=lead.id,
                                            rule="round_robin") is None


async def test_a_lead_without_a_team_gets_no_rep_of_any_team(sessions: db.Sessions) -> None:
    await factories.sales_team(sessions)
    lead = await factories.lead(sessions)
    async with db.unit_of_work(sessions) as session:
        for rule in ("round_robin", "least_loaded"):
            assert await leads.assign_sales_rep(session=session, lead_id=lead.id,
                                                rule=rule) is None


async def test_a_quote_makes_one_sale_with_its_discounted_total(sessions: db.Sessions) -> None:
    team = await factories.sales_team(sessions)
    lead = await factories.qualified_lead(sessions, team.rep)
    quote = await factories.quote(sessions, lead, team.rep, discount_pct="12.5")
    for _ in range(2):
        async with db.unit_of_work(sessions) as session:
            sale = await quotes.create_sale(session=session, quote_id=quote.id)
    async with db.unit_of_work(sessions) as session:
        assert await session.scalar(select(func.count(Sale.id))) == 1
        assert sale.amount == Decimal("875.00")


async def test_an_idempotent_task_is_created_once(sessions: db.Sessions) -> None:
    for _ in range(2):
        async with db.unit_of_work(sessions) as session:
            await tasks.create_task(session=session, kind="call_lead", title="Call",
                                    assignee_id=None, idempotency_key="lead-1:call_lead")
    async with db.unit_of_work(sessions) as session:
        assert await session.scalar(select(func.count(Task.id))) == 1
        assert await session.scalar(select(func.count(StatusChange.id))) == 0
