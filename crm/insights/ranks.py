"""Percentiles in the database: each group's durations ranked once (a window function), and
only the rows that are a percentile or one of the slowest cases come back.

The percentile is the nearest rank: p50 of n durations is the ⌈n/2⌉-th smallest, p90 the
⌈0.9 n⌉-th, computed in integer arithmetic that SQLite and PostgreSQL share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Subquery

SLOWEST = 5
"""How many of a group's slowest cases come with it (the cases behind its bar)."""


def dialect_of(session: AsyncSession) -> str:
    """The database's dialect name: sqlite or postgresql."""
    assert session.bind is not None, "a session bound to the CRM database"
    return session.bind.dialect.name


def seconds_between(dialect: str, later: Any, earlier: Any) -> ColumnElement[Any]:
    """``later - earlier`` in seconds, as this database computes it."""
    if dialect == "sqlite":
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0
    return func.extract("epoch", later - earlier)


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


def ranked(durations: Subquery) -> Select[Any]:
    """From ``durations`` (columns ``grp``, ``case``, ``seconds``): per group the rows at p50
    and p90 and the slowest ones, each with the group's count and total."""
    order = (durations.c.seconds, durations.c.case)
    window = select(
        durations.c.grp, durations.c.case, durations.c.seconds,
        func.row_number().over(partition_by=durations.c.grp, order_by=order).label("rank"),
        func.count().over(partition_by=durations.c.grp).label("n"),
        func.sum(durations.c.seconds).over(partition_by=durations.c.grp).label("total"),
    ).subquery()
    n, rank = window.c.n, window.c.rank
    return select(window).where(or_(rank == (n + 1) / 2, rank == (9 * n + 9) / 10,
                                    rank > n - SLOWEST))


def spreads(rows: Any) -> dict[Any, Spread]:
    """The ranked rows folded into one Spread per group."""
    found: dict[Any, Spread] = {}
    for row in rows:
        n, rank = int(row.n), int(row.rank)
        spread = found.setdefault(row.grp, Spread(count=n, total=float(row.total)))
        if rank == (n + 1) // 2:
            spread.p50 = round(float(row.seconds), 3)
        if rank == (9 * n + 9) // 10:
            spread.p90 = round(float(row.seconds), 3)
        if rank > n - SLOWEST:
            spread.slowest.append((round(float(row.seconds), 3), row.case))
    for spread in found.values():
        spread.slowest = [case for _, case in sorted(spread.slowest, reverse=True)]
    return found
