"""Percentiles without ranking every duration: each group's durations are counted by the
hour they last (one GROUP BY), which says in which hours the percentiles and the slowest
cases lie, and only the durations of those hours come back, to be ranked here. At worst (a
group whose durations all last less than an hour) every duration of that group comes back.

The percentile is the nearest rank: p50 of n durations is the ⌈n/2⌉-th smallest, p90 the
⌈0.9 n⌉-th.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Integer, case, cast, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Subquery

SLOWEST = 5
"""How many of a group's slowest cases come with it (the cases behind its bar)."""
HOUR = 3600.0
"""Seconds in an hour: the unit the views show, and the width durations are counted in."""


def dialect_of(session: AsyncSession) -> str:
    """The database's dialect name: sqlite or postgresql."""
    assert session.bind is not None, "a session bound to the CRM database"
    return session.bind.dialect.name


def seconds_between(dialect: str, later: Any, earlier: Any) -> ColumnElement[Any]:
    """``later - earlier`` in seconds, as this database computes it (a float: PostgreSQL's
    ``extract`` would answer in numeric, several times slower to sort and to sum)."""
    if dialect == "sqlite":
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0
    return func.date_part("epoch", later - earlier)


def count_of(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    """How many rows meet the condition (0 over no rows)."""
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


@dataclass
class Spread:
    """One group's durations: how many, p50, p90, the mean, and the slowest cases."""

    count: int = 0
    p50: float = 0.0
    p90: float = 0.0
    total: float = 0.0
    slowest: list[Any] = field(default_factory=list)

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0


async def spreads_of(session: AsyncSession, durations: Subquery) -> dict[Any, Spread]:
    """One Spread per group of ``durations`` (columns ``grp``, ``case``, ``seconds``)."""
    hour = cast(durations.c.seconds / HOUR, Integer)
    hours: dict[Any, list[tuple[int, int]]] = defaultdict(list)
    totals: dict[Any, Any] = defaultdict(int)
    for grp, at, count, total in await session.execute(
            select(durations.c.grp, hour, func.count(), func.sum(durations.c.seconds))
            .group_by(durations.c.grp, hour)):
        hours[grp].append((at, count))
        totals[grp] += total
    found = {grp: Spread(count=sum(count for _, count in counts), total=float(totals[grp]))
             for grp, counts in hours.items()}
    before = {(grp, at): seen for grp, counts in hours.items()
              for at, seen in _hours_of_interest(found[grp].count, sorted(counts))}
    ranked: dict[tuple[Any, int], list[tuple[float, Any]]] = defaultdict(list)
    if before:
        for grp, at, seconds, case_id in await session.execute(
                select(durations.c.grp, hour, durations.c.seconds, durations.c.case)
                .where(tuple_(durations.c.grp, hour).in_(list(before)))):
            ranked[grp, at].append((float(seconds), case_id))
    for (grp, at), in_hour in ranked.items():
        _fold(found[grp], before[grp, at], sorted(in_hour))
    for spread in found.values():
        spread.slowest = [case_id for _, case_id in sorted(spread.slowest, reverse=True)]
    return found


def _hours_of_interest(n: int, counts: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Of a group's hours in order (each with how many durations it holds), those holding
    p50, p90 or one of the slowest, each with how many durations come before it."""
    wanted = {(n + 1) // 2, (9 * n + 9) // 10, *range(max(n - SLOWEST, 0) + 1, n + 1)}
    found, seen = [], 0
    for at, count in counts:
        if any(seen < rank <= seen + count for rank in wanted):
            found.append((at, seen))
        seen += count
    return found


def _fold(spread: Spread, before: int, in_order: list[tuple[float, Any]]) -> None:
    """One hour's durations, smallest first, after ``before`` smaller ones: the percentiles
    and the slowest among them."""
    n = spread.count
    for rank, (seconds, case_id) in enumerate(in_order, start=before + 1):
        if rank == (n + 1) // 2:
            spread.p50 = round(seconds, 3)
        if rank == (9 * n + 9) // 10:
            spread.p90 = round(seconds, 3)
        if rank > n - SLOWEST:
            spread.slowest.append((round(seconds, 3), case_id))
