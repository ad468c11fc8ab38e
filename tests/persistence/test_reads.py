"""The reads by SQLAlchemy Core (``shown_*``, statements built once with the caller as
parameters) reach exactly the rows ``crm.repo.scopes`` gives each user, never another team's."""

from __future__ import annotations

from sqlalchemy import select

from crm import db
from crm.models import Lead, Quote, User
from crm.repo import leads, people, quotes, scopes
from crm.repo.scopes import Scope
from tests import factories
from workflows.roles import Role


async def test_the_core_reads_reach_what_the_scopes_say_and_no_other_teams_rows(
        sessions: db.Sessions) -> None:
    team = await factories.sales_team(sessions)
    alice, bob, nora = team.rep, team.other_rep, team.foreign_manager
    async with db.unit_of_work(sessions) as session:
        loner = await people.create_user(session=session, name="Lone", role=Role.SALES_REP,
                                         email="lone@crm.example")
    sales, nordics = alice.team_id, nora.team_id
    lead_of = {
        "alice's": await factories.lead(sessions, team_id=sales, owner_id=alice.id),
        "sales' unowned": await factories.lead(sessions, team_id=sales),
        "bob's": await factories.lead(sessions, team_id=sales, owner_id=bob.id),
        "nordics' unowned": await factories.lead(sessions, team_id=nordics),
        "nora's": await factories.lead(sessions, team_id=nordics, owner_id=nora.id),
        "nobody's": await factories.lead(sessions),
        "lone's": await factories.lead(sessions, owner_id=loner.id),
    }
    quote_of = {who: await factories.quote(sessions, lead_of[f"{who}'s"], author)
                for who, author in (("alice", alice), ("bob", bob), ("nora", nora),
                                    ("lone", loner))}
    lead_ids = {name: row.id for name, row in lead_of.items()}
    quote_ids = {name: row.id for name, row in quote_of.items()}
    expected_leads = {
        ("alice", Scope.OWN): {"alice's", "sales' unowned"},
        ("alice", Scope.TEAM): {"alice's", "sales' unowned", "bob's"},
        ("lone", Scope.OWN): {"lone's"},
        ("lone", Scope.TEAM): {"lone's"},
        ("nora", Scope.TEAM): {"nordics' unowned", "nora's"},
    }
    expected_quotes = {
        ("alice", Scope.OWN): {"alice"},
        ("alice", Scope.TEAM): {"alice", "bob"},
        ("lone", Scope.TEAM): {"lone"},
        ("nora", Scope.TEAM): {"nora"},
    }
    users = {"alice": alice, "bob": bob, "nora": nora, "lone": loner, "admin": team.admin}
    async with sessions() as session:
        connection = await session.connection()
        for (name, scope), names in expected_leads.items():
            rows = await leads.shown_leads(connection=connection, user=users[name],
                                           scope=scope, limit=500)
            assert {row.id for row in rows} == {lead_ids[n] for n in names}, (name, scope)
        for (name, scope), names in expected_quotes.items():
            rows = await quotes.shown_quotes(connection=connection, user=users[name],
                                             scope=scope, limit=500)
            assert {row.id for row in rows} == {quote_ids[n] for n in names}, (name, scope)
        for user in users.values():
            for scope in Scope:
                await _same_as_the_scopes(session, user, scope)


async def _same_as_the_scopes(session: db.AsyncSession, user: User, scope: Scope) -> None:
    """Every list, lookup and filter by Core finds what ``scopes.within`` finds."""
    connection = await session.connection()
    for kind, shown_list, shown_one, key in (
            (Lead, leads.shown_leads, leads.shown_lead, "lead_id"),
            (Quote, quotes.shown_quotes, quotes.shown_quote, "quote_id")):
        reached = set(await session.scalars(
            select(kind.id).where(scopes.within(kind, user, scope))))  # type: ignore[attr-defined]
        listed = await shown_list(connection=connection, user=user, scope=scope, limit=500)
        assert {row.id for row in listed} == reached, (kind, user.name, scope)
        assert [row.id for row in listed] == sorted(reached, reverse=True)  # newest first
        everyone = set(await session.scalars(select(kind.id)))  # type: ignore[attr-defined]
        for object_id in everyone:
            found = await shown_one(connection=connection, user=user, scope=scope,
                                    **{key: object_id})
            assert (found is not None) == (object_id in reached), (kind, object_id, user.name)
    filtered = await leads.shown_leads(connection=connection, user=user, scope=scope,
                                       team_id=user.team_id or 1, status="new", limit=2)
    assert all(row.status == "new" for row in filtered) and len(filtered) <= 2
    waiting = await quotes.shown_awaiting_decision(connection=connection, user=user,
                                                   scope=scope)
    assert all(row.author_id != user.id for row in waiting)
