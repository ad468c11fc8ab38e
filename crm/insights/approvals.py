"""Approvals: of the quotes submitted in the period, how many needed approval; per approver
(a person, or the timeout rule), how many decisions, validated and rejected, and the time
from asking to the decision (p50, p90)."""

from __future__ import annotations

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from crm.insights.charts import Chart, Slice, share
from crm.insights.processes import FOLLOWED, names_of
from crm.insights.ranks import HOUR, count_of, dialect_of, seconds_between, spreads_of
from crm.models import Quote, StatusChange

COLUMNS = ["approver", "approver_id", "decisions", "validated", "rejected", "share",
           "p50_hours", "p90_hours", "slowest"]
WAITING = ("pending_approval", "escalated")
DECIDED = ("validated", "rejected")
RULE = "the timeout rule"


async def approvals(session: AsyncSession, where: Slice) -> Chart:
    sc, asked = StatusChange, aliased(StatusChange)
    quotes = FOLLOWED["quote_approval"].cases(where, born_in_period=False)
    in_scope = select(Quote.id).where(*quotes)
    submitted, needed = (await session.execute(
        select(count_of(sc.to_status == "submitted"),
               count_of(sc.to_status == "pending_approval"))
        .where(sc.object_type == "quote", sc.object_id.in_(in_scope),
               *where.bounds(sc.changed_at)))).one()
    # A decision while waiting for approval ends the stay that began with the asking; one
    # after an escalation looks the asking up (the escalation's stay began there).
    since_asked = case((sc.from_status == "pending_approval", sc.entered_at),
                       else_=select(func.max(asked.changed_at))
                       .where(asked.object_type == "quote", asked.object_id == sc.object_id,
                              asked.to_status == "pending_approval",
                              asked.changed_at <= sc.changed_at)
                       .scalar_subquery())
    decided = (sc.object_type == "quote", sc.from_status.in_(WAITING),
               sc.to_status.in_(DECIDED), sc.object_id.in_(in_scope),
               *where.bounds(sc.changed_at))
    approver = func.coalesce(sc.actor_user_id, 0)
    dialect = dialect_of(session)
    durations = (select(approver.label("grp"), sc.object_id.label("case"),
                        seconds_between(dialect, sc.changed_at, since_asked).label("seconds"))
                 .where(*decided).subquery())
    found = await spreads_of(session, durations)
    outcomes = {row.grp: row for row in await session.execute(
        select(approver.label("grp"),
               count_of(sc.to_status == "validated").label("validated"),
               count_of(sc.to_status == "rejected").label("rejected"))
        .where(*decided).group_by(approver))}
    names = await names_of(session, (grp for grp in outcomes if grp))
    total = sum(found[grp].count for grp in found)
    rows = [{"approver": names.get(grp, RULE) if grp else RULE,
             "approver_id": grp or None, "decisions": found[grp].count,
             "validated": int(outcomes[grp].validated), "rejected": int(outcomes[grp].rejected),
             "share": share(found[grp].count, total),
             "p50_hours": round(found[grp].p50 / HOUR, 2),
             "p90_hours": round(found[grp].p90 / HOUR, 2), "slowest": found[grp].slowest}
            for grp in sorted(found, key=lambda grp: (grp == 0, grp))]
    by_rule = found[0].count if 0 in found else 0
    return Chart("approvals", "quote_approval", COLUMNS, rows, where.covers(), {
        "submitted": int(submitted or 0), "needed_approval": int(needed or 0),
        "needed_share": share(int(needed or 0), int(submitted or 0)),
        "decided_by_rule_share": share(by_rule, total)})
