"""Cycle times: how long cases stay in each status (or step of your own workflow), p50 and
p90, and where they wait longest (the bottleneck: the highest p50), with the slowest cases
behind each bar.

A stay is counted once it has ended, in the period it ended in; one still going is not
(its length is not known yet). A status changed to itself (an invoice's next reminder while
it stays overdue) does not end the stay. Times are wall-clock hours: an SLA's working hours
are support's own view (``crm.insights.sla``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.insights.charts import Chart, Slice
from crm.insights.funnel import enrolments_of, step_order
from crm.insights.processes import Followed
from crm.insights.ranks import HOUR, Spread, dialect_of, seconds_between, spreads_of
from crm.models import Enrolment, EnrolmentStep, StatusChange

COLUMNS = ["status", "stays", "p50_hours", "p90_hours", "mean_hours", "slowest"]


async def statuses(session: AsyncSession, followed: Followed, where: Slice) -> Chart:
    """Stays in each status of a process, each read from the change that ended it."""
    sc = StatusChange
    dialect = dialect_of(session)
    stays = (select(sc.from_status.label("grp"), sc.object_id.label("case"),
                    seconds_between(dialect, sc.changed_at, sc.entered_at).label("seconds"))
             .where(sc.object_type == followed.object_type, sc.from_status != sc.to_status,
                    *where.bounds(sc.changed_at)))
    cases = followed.cases(where, born_in_period=False)
    if cases:  # whose or which team's: the case's own row says
        stays = stays.join(followed.model, followed.model.id == sc.object_id).where(*cases)
    durations = stays.subquery()
    found = await spreads_of(session, durations)
    names = [name for name in followed.statuses if name in found]
    return _chart(followed.process, "status", names, found, where)


async def steps(session: AsyncSession, definition_id: int, version: int | None,
                where: Slice) -> Chart:
    """Stays in each step of a definition's enrolments: until the next step, or the end."""
    step = EnrolmentStep
    visits = (select(step.enrolment_id, step.step, step.entered_at,
                     func.coalesce(func.lead(step.entered_at).over(
                         partition_by=step.enrolment_id, order_by=(step.entered_at, step.id)),
                         Enrolment.ended_at).label("left"))
              .join(Enrolment, Enrolment.id == step.enrolment_id)
              .where(*enrolments_of(definition_id, version))
              .subquery())
    dialect = dialect_of(session)
    durations = (select(visits.c.step.label("grp"), visits.c.enrolment_id.label("case"),
                        seconds_between(dialect, visits.c.left, visits.c.entered_at)
                        .label("seconds"))
                 .where(visits.c.left.is_not(None), *where.bounds(visits.c.left))
                 .subquery())
    found = await spreads_of(session, durations)
    order = await step_order(session, definition_id, version)
    names = [name for name in order if name in found] + sorted(set(found) - set(order))
    return _chart(f"definition {definition_id}", "step", names, found, where)


def _chart(subject: str, kind: str, names: list[str], found: dict[Any, Spread],
           where: Slice) -> Chart:
    rows = [{"status": name, "stays": found[name].count,
             "p50_hours": round(found[name].p50 / HOUR, 2),
             "p90_hours": round(found[name].p90 / HOUR, 2),
             "mean_hours": round(found[name].mean / HOUR, 2),
             "slowest": found[name].slowest} for name in names]
    bottleneck = max(names, key=lambda name: found[name].p50) if names else None
    return Chart("cycle-times", subject, COLUMNS, rows, where.covers(),
                 {"of": kind, "bottleneck": bottleneck})
