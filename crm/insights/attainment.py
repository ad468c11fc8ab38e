"""How far the cases attained their objectives (:mod:`crm.insights.objectives`), period by
period: of the cases whose clock started in each month (week, day) of the slice, on the
company's wall clock, how many reached the objective in time (met), late or not at all once
the time ran out (missed), or have time left (pending, as of now). Attainment is met ÷
(met + missed); a period attains the objective when that is at least its share.

One query per objective: each case's start and first reach after it, from the status history
(``ix_status_changes_timeline``) or the enrolment's steps. Times are wall-clock, like the
cycle times: the support targets' working hours are the SLA view's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import chain
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from crm.insights.charts import Chart, Refused, Slice, share
from crm.insights.funnel import enrolments_of
from crm.insights.objectives import CREATED, ENDED, ENROLLED, GOAL_REACHED, Objective
from crm.insights.processes import Followed
from crm.models import Enrolment, EnrolmentStep, StatusChange

COLUMNS = ["objective", "period", "cases", "met", "missed", "pending", "attainment", "share",
           "attained"]
EVERY = {"month": "%Y-%m", "week": "%G-W%V", "day": "%Y-%m-%d"}
MOST_PERIODS = 400
"""The most periods one answer lists per objective (400 days, weeks or months)."""


@dataclass
class Tally:
    met: int = 0
    missed: int = 0
    pending: int = 0

    @property
    def cases(self) -> int:
        return self.met + self.missed + self.pending

    def count(self, started: datetime, reached: datetime | None, within: timedelta,
              now: datetime) -> None:
        if reached is not None:
            if reached - started <= within:
                self.met += 1
            else:
                self.missed += 1
        elif now - started > within:
            self.missed += 1
        else:
            self.pending += 1

    def row(self, objective: Objective) -> dict[str, Any]:
        attainment = share(self.met, self.met + self.missed)
        return {"cases": self.cases, "met": self.met, "missed": self.missed,
                "pending": self.pending, "attainment": attainment, "share": objective.share,
                "attained": None if attainment is None else attainment >= objective.share}


async def of_process(session: AsyncSession, followed: Followed,
                     objectives: list[Objective], where: Slice, every: str) -> Chart:
    clocks = [await _process_clocks(session, followed, objective, where)
              for objective in objectives]
    return _chart(followed.process, objectives, clocks, where, every)


async def of_definition(session: AsyncSession, definition_id: int, version: int | None,
                        objectives: list[Objective], where: Slice, every: str) -> Chart:
    clocks = [await _enrolment_clocks(session, definition_id, version, objective, where)
              for objective in objectives]
    return _chart(f"definition {definition_id}", objectives, clocks, where, every)


Clocks = list[tuple[datetime, datetime | None]]
"""Each case's start and first reach after it (None: not reached)."""


async def _process_clocks(session: AsyncSession, followed: Followed, objective: Objective,
                          where: Slice) -> Clocks:
    model = followed.model
    started = _milestone(followed, objective.start, model.id)
    narrowed = [followed.dimensions[name] == value for name, value in objective.where.items()]
    query = select(model.id.label("case"), started.label("started"))
    if not _is_status(followed, objective.reach):
        query = query.add_columns(_milestone(followed, objective.reach, model.id)
                                  .label("reached"))
    query = query.where(*followed.cases(where, born_in_period=False), *narrowed,
                        started.is_not(None), *where.bounds(started))
    if _is_status(followed, objective.start) and where.since is not None:
        query = query.where(model.id.in_(_entered(followed, objective.start, where)))
    if _is_status(followed, objective.reach):
        clocks = query.subquery()
        query = select(clocks.c.started, _milestone(followed, objective.reach, clocks.c.case,
                                                    clocks.c.started).label("reached"))
    return [(row.started, row.reached) for row in await session.execute(query)]


def _is_status(followed: Followed, name: str) -> bool:
    return name != CREATED and name not in followed.moments


def _milestone(followed: Followed, name: str, case_id: Any, after: Any = None) -> Any:
    """When the case was created, reached the moment, or first entered the status (at or
    after ``after``)."""
    if name == CREATED:
        return followed.model.created_at
    if name in followed.moments:
        return followed.moments[name]
    sc = aliased(StatusChange)
    first = select(func.min(sc.changed_at)).where(
        sc.object_type == followed.object_type, sc.object_id == case_id,
        sc.to_status == name, sc.from_status != sc.to_status)
    if after is not None:
        first = first.where(sc.changed_at >= after)
    return first.scalar_subquery()


def _entered(followed: Followed, status: str, where: Slice) -> Any:
    """The cases that entered the status in the period (those whose clock may start in
    it), read by the period's index."""
    sc = aliased(StatusChange)
    return select(sc.object_id).where(sc.object_type == followed.object_type,
                                      sc.to_status == status, *where.bounds(sc.changed_at))


async def _enrolment_clocks(session: AsyncSession, definition_id: int, version: int | None,
                            objective: Objective, where: Slice) -> Clocks:
    started = _step_reached(objective.start, Enrolment.id)
    clocks = (select(Enrolment.id.label("case"), started.label("started"),
                     Enrolment.ended_at, Enrolment.status)
              .where(*enrolments_of(definition_id, version), started.is_not(None),
                     *where.bounds(started))
              .subquery())
    if objective.reach == ENDED:
        reached: Any = clocks.c.ended_at
    elif objective.reach == GOAL_REACHED:
        reached = case((clocks.c.status == GOAL_REACHED, clocks.c.ended_at))
    else:
        reached = _step_reached(objective.reach, clocks.c.case, clocks.c.started)
    query = select(clocks.c.started, reached.label("reached"))
    return [(row.started, row.reached) for row in await session.execute(query)]


def _step_reached(name: str, enrolment_id: Any, after: Any = None) -> Any:
    """When the enrolment was enrolled, or first entered the step (at or after ``after``)."""
    if name == ENROLLED:
        return Enrolment.created_at
    step = aliased(EnrolmentStep)
    first = select(func.min(step.entered_at)).where(step.enrolment_id == enrolment_id,
                                                    step.step == name)
    if after is not None:
        first = first.where(step.entered_at >= after)
    return first.scalar_subquery()


def _chart(subject: str, objectives: list[Objective], clocks: list[Clocks], where: Slice,
           every: str) -> Chart:
    if every not in EVERY:
        raise Refused("every", f"every is one of {', '.join(EVERY)}")
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    summaries: list[dict[str, Any]] = []
    for objective, found in zip(objectives, clocks, strict=True):
        periods: dict[str, Tally] = {label: Tally() for label in _labels(where, every)}
        overall = Tally()
        for started, reached in found:
            label = started.astimezone(where.zone).strftime(EVERY[every])
            for tally in (periods.setdefault(label, Tally()), overall):
                tally.count(started, reached, objective.within, now)
        _at_most(len(periods))
        rows.extend({"objective": objective.name, "period": label, **tally.row(objective)}
                    for label, tally in sorted(periods.items()))
        summaries.append({**objective.as_json(), **overall.row(objective)})
    return Chart("objectives", subject, COLUMNS, rows, where.covers(),
                 {"every": every, "objectives": summaries})


def _labels(where: Slice, every: str) -> list[str]:
    """Every period of the slice, those with no case included (none without both ends)."""
    if where.since is None or where.until is None:
        return []
    last = (where.until - timedelta(microseconds=1)).astimezone(where.zone)
    labels: list[str] = []
    for moment in chain(_steps(where.since.astimezone(where.zone), where.until, every), [last]):
        label = moment.strftime(EVERY[every])
        if label not in labels:
            labels.append(label)
        _at_most(len(labels))
    return labels


def _at_most(periods: int) -> None:
    if periods > MOST_PERIODS:
        raise Refused("every", f"more than {MOST_PERIODS} periods: choose a longer every or "
                               f"a shorter period")


def _steps(since: datetime, until: datetime, every: str) -> Iterator[datetime]:
    """Moments from ``since`` to before ``until``, at least one in each period (days, or
    the first of each month)."""
    moment = since
    while moment < until:
        yield moment
        if every == "month":
            moment = (moment.replace(day=1) + timedelta(days=32)).replace(day=1)
        else:
            moment = moment + timedelta(days=1)
