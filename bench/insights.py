"""The insights over a large history: how long each chart takes to answer.

    python -m bench.insights --database both --changes 1000000 --out /tmp/bench

Seeds a fresh CRM database (``bench.stack.crm_database``) with ``--changes`` status changes
over two years — leads (60 %), quotes (20 %), tickets and invoices (10 % each) with their
objects — straight into the tables, then asks each view (``crm.insights.views``) as the
API does, over the last 90 days and over all the history, ``--repeat`` times each, after
``ANALYZE`` (as the API's planner statistics do, ``crm.statistics``) and, on PostgreSQL,
``VACUUM`` (as autovacuum does). Reports each view's
median and worst time in milliseconds, beside the 200 ms goal (issue 24). No Temporal: the
views read the CRM database only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

from bench.stack import crm_database
from crm import db
from crm import statistics as planner
from crm.insights import views
from crm.insights.charts import Slice
from crm.insights.objectives import Objective
from crm.insights.views import Asked
from crm.models import Account, Invoice, Lead, Quote, QuoteLine, StatusChange, Ticket
from crm.repo import people
from workflows.roles import Role

POSTGRES_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
GOAL_MS = 200.0
SPAN = timedelta(days=730)
BATCH = 20_000
PATHS = {
    "lead": [("new", "nurturing"), ("nurturing", "engaged"), ("engaged", "qualified"),
             ("qualified", "won")],
    "quote": [("draft", "submitted"), ("submitted", "pending_approval"),
              ("pending_approval", "validated"), ("validated", "sent"), ("sent", "won")],
    "ticket": [("new", "open"), ("open", "waiting_on_customer"),
               ("waiting_on_customer", "open"), ("open", "resolved")],
    "invoice": [("open", "overdue"), ("overdue", "overdue"), ("overdue", "promised"),
                ("promised", "paid")],
}
OPEN_FOR = timedelta(days=45)
"""Quotes born this recently are still open (sent or validated); older ones won or lost."""
SHARE = {"lead": 0.6, "quote": 0.2, "ticket": 0.1, "invoice": 0.1}
QUALIFIED = Objective("Qualified within 10 days", reach="qualified", within=timedelta(days=10),
                      share=0.5)
ANSWERED = Objective("Answered within 2 hours", reach="first_response", within=timedelta(hours=2),
                     share=0.7, where={"priority": "normal"})
ASKED = [("funnel", Asked("lead_to_sale")), ("cycle-times", Asked("lead_to_sale")),
         ("funnel", Asked("quote_approval")), ("approvals", Asked()), ("forecast", Asked()),
         ("sla", Asked()), ("cash", Asked()), ("cycle-times", Asked("invoice_dunning")),
         ("objectives", Asked("lead_to_sale", objectives=(QUALIFIED,))),
         ("objectives", Asked("support_ticket", objectives=(ANSWERED,)))]


async def seed(url: str, changes: int, rng: random.Random) -> dict[str, int]:
    engine = db.create_engine(url)
    sessions = db.create_sessions(engine)
    async with db.unit_of_work(sessions) as session:
        rep = await people.create_user(session=session, name="Alice Rep", role=Role.SALES_REP,
                                       email="rep@bench.example", team="Bench")
        agent = await people.create_user(session=session, name="Sam Agent",
                                         role=Role.SUPPORT_AGENT, email="sam@bench.example",
                                         team="Support")
        account = Account(name="Acme")
        session.add(account)
        await session.flush()
        rep_id, team_id, agent_id, account_id = rep.id, rep.team_id, agent.id, account.id
    end = datetime.now(UTC)
    counts: dict[str, int] = {}
    for kind, share in SHARE.items():
        objects = int(changes * share) // len(PATHS[kind])
        counts[kind] = objects
        born = [end - SPAN + timedelta(seconds=rng.randrange(int(SPAN.total_seconds())))
                for _ in range(objects)]
        ids = await _objects(engine, kind, born, rep_id, team_id, agent_id, account_id, rng)
        rows = []
        for object_id, created in zip(ids, born, strict=True):
            at = entered = created
            for from_status, to_status in PATHS[kind]:
                at += timedelta(minutes=rng.randrange(30, 60 * 24 * 12))
                if at >= end:
                    break
                rows.append({"object_type": kind, "object_id": object_id,
                             "from_status": from_status, "to_status": to_status,
                             "actor": "bench", "changed_at": at, "entered_at": entered})
                if to_status != from_status:
                    entered = at
        await _insert(engine, StatusChange.__table__, rows, returning=False)
    await planner.refresh(engine)
    if engine.dialect.name == "postgresql":
        await _vacuum(engine)
    await engine.dispose()
    return counts


async def _vacuum(engine: Any) -> None:
    """What autovacuum does to tables that grew over two years: their pages marked all-visible,
    so an index that covers a query answers it alone (a bulk load leaves none marked, and the
    table is read as well)."""
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(text("VACUUM"))


async def _objects(engine: Any, kind: str, born: list[datetime], rep: int, team: int | None,
                   agent: int, account: int, rng: random.Random) -> list[int]:
    if kind == "lead":
        rows = [{"name": f"Lead {n}", "email": f"l{n}@leads.example", "team_id": team,
                 "owner_id": rep, "status": "won", "created_at": at}
                for n, at in enumerate(born)]
        return await _insert(engine, Lead.__table__, rows)
    if kind == "quote":
        lead = (await _insert(engine, Lead.__table__, [{
            "name": "Buyer", "email": "buyer@customers.example", "team_id": team,
            "owner_id": rep, "status": "won"}]))[0]
        ids = await _insert(engine, Quote.__table__, [
            {"lead_id": lead, "author_id": rep, "team_id": team, "created_at": at,
             "status": (rng.choice(("sent", "validated")) if datetime.now(UTC) - at < OPEN_FOR
                        else rng.choice(("won", "lost"))), "submission": 1,
             "discount_pct": Decimal(25), "valid_until": at + timedelta(days=30)}
            for at in born])
        await _insert(engine, QuoteLine.__table__, [
            {"quote_id": quote, "position": 1, "description": "Licence",
             "quantity": Decimal(1), "unit_price": Decimal(1000)} for quote in ids])
        return ids
    if kind == "ticket":
        return await _insert(engine, Ticket.__table__, [
            {"requester_email": "jane@acme.example", "subject": "help", "category": "general",
             "priority": "normal", "opened_priority": "normal", "assignee_id": agent,
             "status": "resolved", "created_at": at, "first_responded_at": at,
             "resolved_at": at + timedelta(days=2),
             "first_response_breached_at": at if rng.random() < 0.1 else None}
            for at in born])
    return await _insert(engine, Invoice.__table__, [
        {"number": f"B-{n}", "account_id": account, "amount": Decimal(1000),
         "issued_on": at.date(), "due_on": at.date() + timedelta(days=30), "status": "paid",
         "level_reached": rng.randrange(3), "created_at": at} for n, at in enumerate(born)])


async def _insert(engine: Any, table: Any, rows: list[dict[str, Any]], *,
                  returning: bool = True) -> list[int]:
    """The rows inserted in batches; their ids in order (none asked: a plain executemany)."""
    ids: list[int] = []
    statement = (insert(table).returning(table.c.id, sort_by_parameter_order=True)
                 if returning else insert(table))
    for start in range(0, len(rows), BATCH):
        async with engine.begin() as connection:
            result = await connection.execute(statement, rows[start:start + BATCH])
            if returning:
                ids += [row[0] for row in result]
    return ids


async def time_views(url: str, repeat: int) -> list[dict[str, Any]]:
    engine = db.create_engine(url)
    sessions = db.create_sessions(engine)
    now = datetime.now(UTC)
    found = []
    for period, where in (("last 90 days", Slice(now - timedelta(days=90), now)),
                          ("all", Slice())):
        for name, asked in ASKED:
            took = []
            for _ in range(repeat):
                async with sessions() as session:
                    began = time.perf_counter()
                    await views.VIEWS[name](session, asked, where)
                    took.append((time.perf_counter() - began) * 1000)
            found.append({"view": name, "of": asked.process or views.SUBJECT.get(name),
                          "period": period, "median_ms": round(statistics.median(took), 1),
                          "worst_ms": round(max(took), 1),
                          "met": statistics.median(took) < GOAL_MS})
    await engine.dispose()
    return found


async def run(database: str, changes: int, repeat: int, postgres: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as workdir:
        async with crm_database(database, Path(workdir), postgres) as url:
            began = time.perf_counter()
            counts = await seed(url, changes, random.Random(24))
            seeded = time.perf_counter() - began
            rows = await time_views(url, repeat)
    return {"database": database, "changes": changes, "objects": counts,
            "seed_seconds": round(seeded), "rows": rows}


def table(result: dict[str, Any]) -> str:
    lines = [f"{result['database']}: {result['changes']:,} status changes "
             f"(seeded in {result['seed_seconds']} s)",
             "| view | of | period | median ms | worst ms | < 200 ms |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['view']} | {r['of']} | {r['period']} | {r['median_ms']} | {r['worst_ms']} "
              f"| {'yes' if r['met'] else 'no'} |" for r in result["rows"]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.insights", description=__doc__)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"],
                        default="sqlite")
    parser.add_argument("--changes", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--postgres-url", default=POSTGRES_SERVER)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    databases = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    results = []
    for database in databases:
        result = asyncio.run(run(database, args.changes, args.repeat, args.postgres_url))
        print(table(result), flush=True)
        results.append(result)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "insights.json").write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()


