"""Support's targets: of the tickets opened in the period, per priority they were opened with
(the targets they were held to) and team, how many met and missed the first-response and
resolution targets, how many were reopened, and what customers rated them; breaches by
category; the ratings given.

Whether a target was met is the ticket process's own decision, on the support calendar's
working hours, paused while the ticket waits on the customer: it is kept on the ticket
(``first_response_breached_at``, ``resolution_breached_at``) and counted here, never
recomputed. A target neither met nor missed yet (the ticket is still open, in time) counts
as pending.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.insights.charts import Chart, Slice, share
from crm.insights.processes import FOLLOWED
from crm.insights.ranks import count_of
from crm.models import Team, Ticket, User
from workflows.support_types import PRIORITIES

COLUMNS = ["priority", "team", "tickets", "first_response_met", "first_response_missed",
           "first_response_attainment", "resolution_met", "resolution_missed",
           "resolution_attainment", "resolved", "reopened", "reopen_rate", "ratings",
           "mean_rating"]
FIRST = tuple(reversed(PRIORITIES))
"""The most urgent first."""


async def sla(session: AsyncSession, where: Slice) -> Chart:
    opened = FOLLOWED["support_ticket"].cases(where)
    t = Ticket
    first_missed = t.first_response_breached_at.is_not(None)
    resolution_missed = t.resolution_breached_at.is_not(None)
    priority = func.coalesce(t.opened_priority, t.priority).label("priority")
    team = func.coalesce(Team.name, "").label("team")
    rows = await session.execute(
        select(priority, team, func.count().label("tickets"),
               count_of(t.first_responded_at.is_not(None) & ~first_missed).label("first_met"),
               count_of(first_missed).label("first_missed"),
               count_of(t.resolved_at.is_not(None) & ~resolution_missed).label("res_met"),
               count_of(resolution_missed).label("res_missed"),
               count_of(t.resolved_at.is_not(None)).label("resolved"),
               count_of(t.reopenings > 0).label("reopened"),
               func.count(t.rating).label("ratings"), func.avg(t.rating).label("mean_rating"))
        .outerjoin(User, User.id == t.assignee_id).outerjoin(Team, Team.id == User.team_id)
        .where(*opened).group_by(priority, team))
    table = [_row(row) for row in rows]
    table.sort(key=lambda row: (_rank(row["priority"]), row["team"]))
    by_category = [{"category": category, "tickets": int(n),
                    "first_response_missed": int(first), "resolution_missed": int(res)}
                   for category, n, first, res in await session.execute(
                       select(t.category, func.count(), count_of(first_missed),
                              count_of(resolution_missed))
                       .where(*opened).group_by(t.category).order_by(t.category))]
    ratings = dict((await session.execute(
        select(t.rating, func.count()).where(*opened, t.rating.is_not(None))
        .group_by(t.rating))).all())
    return Chart("sla", "support_ticket", COLUMNS, table, where.covers(), {
        "breaches_by_category": by_category,
        "ratings": {str(stars): ratings.get(stars, 0) for stars in range(1, 6)}})


def _row(row: Any) -> dict[str, Any]:
    first_met, first_missed = int(row.first_met), int(row.first_missed)
    res_met, res_missed = int(row.res_met), int(row.res_missed)
    resolved, reopened = int(row.resolved), int(row.reopened)
    return {"priority": row.priority, "team": row.team, "tickets": int(row.tickets),
            "first_response_met": first_met, "first_response_missed": first_missed,
            "first_response_attainment": share(first_met, first_met + first_missed),
            "resolution_met": res_met, "resolution_missed": res_missed,
            "resolution_attainment": share(res_met, res_met + res_missed),
            "resolved": resolved, "reopened": reopened, "reopen_rate": share(reopened, resolved),
            "ratings": int(row.ratings),
            "mean_rating": round(float(row.mean_rating), 2) if row.mean_rating else None}


def _rank(priority: str) -> int:
    return FIRST.index(priority) if priority in FIRST else len(FIRST)
