"""The query planner's statistics are kept fresh, so a rep's newest leads are read by
walking the primary key, not by sorting every lead the rep may see (SQLite, and PostgreSQL
where autovacuum has not done it)."""

from __future__ import annotations

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.app import create_app
from crm import db, statistics
from crm.models import Lead, User
from crm.repo import people
from crm.repo.scopes import Scope, within
from crm.settings import Settings
from tests.waiting import eventually
from workflows.roles import Role

LEADS = 3 * statistics.MIN_ROWS


async def a_rep_and_their_teams_leads(engine: AsyncEngine, count: int) -> User:
    async with db.unit_of_work(db.create_sessions(engine)) as session:
        rep = await people.create_user(session=session, name="Rita", role=Role.SALES_REP,
                                       email="rita@crm.example", team="East")
    async with engine.begin() as connection:
        await connection.execute(insert(Lead), [
            {"name": f"Lead {n}", "email": f"lead{n}@leads.example", "team_id": rep.team_id,
             "status": "new", "source": "newsletter"} for n in range(count)])
    return rep


async def plan_of_newest_page(engine: AsyncEngine, rep: User) -> str:
    """The database's plan for the first page of the rep's leads, newest first."""
    query = select(Lead).where(within(Lead, rep, Scope.OWN)).order_by(Lead.id.desc()).limit(50)
    sql = str(query.compile(engine.sync_engine, compile_kwargs={"literal_binds": True}))
    explain = "EXPLAIN QUERY PLAN" if engine.dialect.name == "sqlite" else "EXPLAIN"
    async with engine.connect() as connection:
        rows = await connection.exec_driver_sql(f"{explain} {sql}")
        return " / ".join(row[-1] for row in rows)


async def test_a_grown_table_is_analyzed_once_and_the_newest_page_walks_the_key(
    sqlite_url: str,
) -> None:
    engine = db.create_engine(sqlite_url)
    try:
        assert await statistics.refresh(engine) == []  # a fresh database: nothing to do
        rep = await a_rep_and_their_teams_leads(engine, LEADS)
        assert "TEMP B-TREE FOR ORDER BY" in await plan_of_newest_page(engine, rep)

        assert "leads" in await statistics.refresh(engine)
        assert await plan_of_newest_page(engine, rep) == "SCAN leads"
        assert await statistics.refresh(engine) == []  # fresh until the table doubles
    finally:
        await engine.dispose()


async def test_postgresql_tables_are_analyzed_unless_autovacuum_came_first(
    postgres: str,
) -> None:
    engine = db.create_engine(postgres)

    async def analyzed() -> bool:
        if "leads" in await statistics.refresh(engine):  # its counters lag a little
            return True
        async with engine.connect() as connection:
            return bool(await connection.scalar(text(
                "SELECT coalesce(last_analyze, last_autoanalyze) IS NOT NULL "
                "FROM pg_stat_user_tables WHERE relname = 'leads'")))

    try:
        rep = await a_rep_and_their_teams_leads(engine, LEADS)
        await eventually(analyzed)
        plan = await plan_of_newest_page(engine, rep)
        assert "Index Scan Backward" in plan and "Sort" not in plan, plan
        assert "leads" not in await statistics.refresh(engine)
    finally:
        await engine.dispose()


async def test_the_api_refreshes_them_as_it_runs(sqlite_url: str) -> None:
    engine = db.create_engine(sqlite_url)
    await a_rep_and_their_teams_leads(engine, LEADS)
    app = create_app(Settings(database_url=sqlite_url, database_statistics_seconds=0.2))

    async def analyzed() -> bool:
        async with engine.connect() as connection:
            return bool(await connection.scalar(text(
                "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")))

    try:
        async with app.router.lifespan_context(app):
            await eventually(analyzed)
    finally:
        await engine.dispose()
