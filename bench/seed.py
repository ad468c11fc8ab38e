"""The rows the measures start from, written straight into the CRM database.

People (a sales team with a rep and one manager, the website, an admin) with API tokens, made
with crmflow's own repository functions; then leads and quotes in bulk, with SQLAlchemy core
(``INSERT … RETURNING`` in batches), since the measures time processes and reads, not how a
hundred thousand rows got there.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from crm import db
from crm.models import Account, Contact, Lead, Quote, QuoteLine
from crm.repo import people
from workflows.roles import Role

BATCH = 5_000
"""Rows per transaction: SQLite's single write lock is never held for long."""
LOCKED_ATTEMPTS = 3
"""Tries at a batch while SQLite says the database is locked."""
LINE = {"description": "CRM licence", "quantity": Decimal("10"), "unit_price": Decimal("100.00")}


@dataclass(frozen=True)
class Member:
    user_id: int
    name: str
    email: str
    token: str


@dataclass(frozen=True)
class People:
    team_id: int
    rep: Member
    """The author of every quote, owner of every qualified lead."""
    manager: Member
    """The team's only manager: one approval request per quote."""
    website: Member
    admin: Member


async def seed_people(database_url: str) -> People:
    engine = db.create_engine(database_url)
    try:
        async with db.unit_of_work(db.create_sessions(engine)) as session:
            members = {}
            for key, name, role, team in (
                ("rep", "Alice Rep", Role.SALES_REP, "Bench"),
                ("manager", "Maria Manager", Role.SALES_MANAGER, "Bench"),
                ("website", "Website", Role.INTEGRATION, None),
                ("admin", "Ada Admin", Role.ADMIN, None),
            ):
                user = await people.create_user(session=session, name=name, role=role,
                                                email=f"{key}@bench.example", team=team)
                token = await people.issue_token(session=session, user=user, label="bench")
                members[key] = (Member(user.id, user.name, user.email, token), user.team_id)
        team_id = members["rep"][1]
        assert team_id is not None
        return People(team_id, *(members[k][0] for k in ("rep", "manager", "website", "admin")))
    finally:
        await engine.dispose()


async def insert_rows(engine: AsyncEngine, table: Table, rows: Sequence[dict[str, Any]],
                      ) -> list[int]:
    """Insert the rows in batches; their ids, in order."""
    ids: list[int] = []
    statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    for start in range(0, len(rows), BATCH):
        for attempt in range(1, LOCKED_ATTEMPTS + 1):
            try:
                async with engine.begin() as connection:
                    result = await connection.execute(statement,
                                                      list(rows[start:start + BATCH]))
                    ids += [row[0] for row in result]
                break
            except OperationalError as error:
                # SQLite: the processes of the measure before still write, and a writer
                # can wait out the busy timeout (30 s) without its turn coming.
                if "database is locked" not in str(error) or attempt == LOCKED_ATTEMPTS:
                    raise
    return ids


@dataclass(frozen=True)
class QuoteRow:
    quote_id: int
    lead_id: int
    account_id: int
    contact_name: str
    contact_email: str


_batches = itertools.count(1)


async def leads(engine: AsyncEngine, count: int, *, team_id: int, status: str = "new",
                tag: str = "") -> list[int]:
    """New leads (no process), each with an email of its own."""
    tag = tag or f"b{next(_batches)}"
    return await insert_rows(engine, Lead.__table__, [  # type: ignore[arg-type]
        {"name": f"Lead {tag}-{n}", "email": f"{tag}-{n}@leads.example", "company": "Acme",
         "team_id": team_id, "status": status, "source": "newsletter"}
        for n in range(count)
    ])


async def quotes_for_processes(engine: AsyncEngine, team: People, count: int, *,
                               discount_pct: Decimal, status: str) -> list[QuoteRow]:
    """Qualified leads (account, contact, owner) each with one quote of one line, as
    ``POST /leads/{id}/qualify`` and ``POST /quotes`` leave them."""
    tag = f"q{next(_batches)}"
    accounts = await insert_rows(engine, Account.__table__, [  # type: ignore[arg-type]
        {"name": f"Customer {tag}-{n}", "owner_id": team.rep.user_id, "team_id": team.team_id}
        for n in range(count)])
    emails = [f"buyer-{tag}-{n}@customers.example" for n in range(count)]
    contacts = await insert_rows(engine, Contact.__table__, [  # type: ignore[arg-type]
        {"account_id": a, "name": f"Buyer {n}", "email": emails[n]}
        for n, a in enumerate(accounts)])
    lead_ids = await insert_rows(engine, Lead.__table__, [  # type: ignore[arg-type]
        {"name": f"Buyer {n}", "email": emails[n], "company": f"Customer {tag}-{n}",
         "team_id": team.team_id, "owner_id": team.rep.user_id, "status": "qualified",
         "account_id": a, "contact_id": c, "need": "a CRM", "budget": Decimal("10000")}
        for n, (a, c) in enumerate(zip(accounts, contacts, strict=True))])
    quote_ids = await insert_rows(engine, Quote.__table__, [  # type: ignore[arg-type]
        {"lead_id": lead, "account_id": a, "contact_id": c, "author_id": team.rep.user_id,
         "team_id": team.team_id, "status": status, "discount_pct": discount_pct,
         "submission": 0 if status == "draft" else 1}
        for lead, a, c in zip(lead_ids, accounts, contacts, strict=True)])
    await insert_rows(engine, QuoteLine.__table__, [  # type: ignore[arg-type]
        {"quote_id": q, "position": 1, **LINE} for q in quote_ids])
    return [QuoteRow(q, lead, a, f"Buyer {n}", emails[n])
            for n, (q, lead, a) in enumerate(zip(quote_ids, lead_ids, accounts, strict=True))]


QUOTE_STATUSES = ("draft", "pending_approval", "validated", "sent", "won", "lost", "expired")


async def many_leads_and_quotes(engine: AsyncEngine, team: People, count: int,
                                ) -> tuple[list[int], list[int]]:
    """``count`` leads and as many quotes (one line each), statuses spread as in a CRM
    that has run for a while; no processes. Their ids."""
    lead_statuses = ("nurturing", "engaged", "qualified", "disqualified", "dormant", "won")
    lead_ids = await insert_rows(engine, Lead.__table__, [  # type: ignore[arg-type]
        {"name": f"Reader {n}", "email": f"reader-{n}@many.example", "company": "Acme",
         "team_id": team.team_id, "owner_id": team.rep.user_id,
         "status": lead_statuses[n % len(lead_statuses)], "source": "newsletter"}
        for n in range(count)])
    quote_ids = await insert_rows(engine, Quote.__table__, [  # type: ignore[arg-type]
        {"lead_id": lead, "author_id": team.rep.user_id, "team_id": team.team_id,
         "status": QUOTE_STATUSES[n % len(QUOTE_STATUSES)], "discount_pct": Decimal(10),
         "submission": 1}
        for n, lead in enumerate(lead_ids)])
    await insert_rows(engine, QuoteLine.__table__, [  # type: ignore[arg-type]
        {"quote_id": q, "position": 1, **LINE} for q in quote_ids])
    return lead_ids, quote_ids
