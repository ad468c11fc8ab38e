"""The forecast: each open quote's total times the observed win rate of the stage it is in, by
the month it is valid until (the company's months; "undated" without one); and each rep's
pipeline, win rate and time to a win (seed 002's sales performance).

A stage's win rate is observed over the quotes born in the period that have closed (won,
lost, expired or rejected) after passing through that stage: the share of them won. The open
quotes are those open now, whatever the period.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.insights.charts import Chart, Slice, money, share
from crm.insights.processes import FOLLOWED, names_of
from crm.insights.ranks import dialect_of, seconds_between, spreads_of
from crm.models import Quote, QuoteLine, StatusChange
from crm.repo.quotes import discounted

COLUMNS = ["month", "quotes", "pipeline", "weighted"]
OPEN = ("submitted", "pending_approval", "escalated", "validated", "sent")
CLOSED = ("won", "lost", "expired", "rejected")
DAY = 86400.0


async def forecast(session: AsyncSession, where: Slice) -> Chart:
    followed = FOLLOWED["quote_approval"]
    rates = await _win_rates(session, followed.cases(where))
    months: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0), Decimal(0)])
    reps: dict[int, dict[str, Any]] = defaultdict(_rep)
    for quote in await session.execute(
            select(Quote.id, Quote.status, Quote.valid_until, Quote.author_id,
                   Quote.discount_pct,
                   func.coalesce(func.sum(QuoteLine.quantity * QuoteLine.unit_price), 0)
                   .label("subtotal"))
            .outerjoin(QuoteLine, QuoteLine.quote_id == Quote.id)
            .where(Quote.status.in_(OPEN), *followed.cases(where, born_in_period=False))
            .group_by(Quote.id)):
        total = discounted(Decimal(quote.subtotal), Decimal(quote.discount_pct)).total
        weighted = total * _odds(rates.get(quote.status))
        month = where.month_of(quote.valid_until) if quote.valid_until else "undated"
        for tally in (months[month], reps[quote.author_id]["tally"]):
            tally[0] += 1
            tally[1] += total
            tally[2] += weighted
    rows = [{"month": month, "quotes": int(tally[0]), "pipeline": money(tally[1]),
             "weighted": money(tally[2])}
            for month, tally in sorted(months.items(), key=lambda item: (
                item[0] == "undated", item[0]))]
    return Chart("forecast", "quote_approval", COLUMNS, rows, where.covers(), {
        "win_rates": rates, "reps": await _performance(session, where, reps)})


def _odds(rate: dict[str, Any] | None) -> Decimal:
    """The stage's observed odds of a win, exactly (won ÷ closed; 0 where none closed)."""
    return Decimal(rate["won"]) / Decimal(rate["closed"]) if rate else Decimal(0)


def _rep() -> dict[str, Any]:
    return {"tally": [Decimal(0), Decimal(0), Decimal(0)]}


async def _win_rates(session: AsyncSession, born: list[Any]) -> dict[str, dict[str, Any]]:
    sc = StatusChange
    rows = await session.execute(
        select(sc.to_status, func.count(distinct(Quote.id)),
               func.count(distinct(Quote.id)).filter(Quote.status == "won"))
        .join(Quote, Quote.id == sc.object_id)
        .where(sc.object_type == "quote", sc.to_status.in_(OPEN), Quote.status.in_(CLOSED),
               *born)
        .group_by(sc.to_status))
    return {stage: {"closed": int(closed), "won": int(won), "rate": share(int(won), int(closed))}
            for stage, closed, won in rows}


async def _performance(session: AsyncSession, where: Slice,
                       reps: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """Each rep's open pipeline, closed and won quotes, win rate and days to a win (p50)."""
    born = FOLLOWED["quote_approval"].cases(where)
    closed = dict((await session.execute(
        select(Quote.author_id, func.count()).where(Quote.status.in_(CLOSED), *born)
        .group_by(Quote.author_id))).all())
    sc = StatusChange
    dialect = dialect_of(session)
    to_win = (select(Quote.author_id.label("grp"), Quote.id.label("case"),
                     seconds_between(dialect, sc.changed_at, Quote.created_at).label("seconds"))
              .join(Quote, Quote.id == sc.object_id)
              .where(sc.object_type == "quote", sc.to_status == "won", *born).subquery())
    wins = await spreads_of(session, to_win)
    people = set(reps) | set(closed)
    names = await names_of(session, people)
    table = []
    for rep in sorted(people, key=lambda rep: names.get(rep, "")):
        tally: list[Decimal] = reps[rep]["tally"] if rep in reps else [Decimal(0)] * 3
        won = wins[rep].count if rep in wins else 0
        table.append({"rep": names.get(rep), "rep_id": rep, "open_quotes": int(tally[0]),
                      "pipeline": money(tally[1]), "weighted": money(tally[2]),
                      "closed": closed.get(rep, 0), "won": won,
                      "win_rate": share(won, closed.get(rep, 0)),
                      "days_to_win_p50": round(wins[rep].p50 / DAY, 1) if rep in wins else None})
    return table


