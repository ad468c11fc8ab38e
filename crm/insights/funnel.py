"""The funnel: of the cases born in the period, how many reached each stage.

Lead to sale has stages that follow each other (a lead, engaged, qualified, quoted, won); a
lead that skipped one (qualified straight from new) has passed it, so each stage counts the
leads that reached it or a later one, and conversion is the share of the stage before. Any
other process counts the cases that entered each status (a case may take several paths),
each as a share of the cases born; a workflow of your own, the enrolments that entered each
step.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, distinct, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from crm.insights.charts import Chart, Slice, share
from crm.insights.processes import FOLLOWED, Followed
from crm.models import DefinitionVersion, Enrolment, EnrolmentStep, Lead, Quote, StatusChange

LEAD_STAGES = ("lead", "engaged", "qualified", "quoted", "won")
_STAGE_OF = {"engaged": 1, "qualified": 2, "won": 4}
_QUOTED = 3
COLUMNS = ["stage", "reached", "of_previous", "of_all"]


async def lead_to_sale(session: AsyncSession, where: Slice) -> Chart:
    """Leads born in the period, by the furthest stage each reached."""
    sc = StatusChange
    born = select(Lead.id).where(*FOLLOWED["lead_to_sale"].cases(where))
    stage = case(*((sc.to_status == status, rank) for status, rank in _STAGE_OF.items()))
    marks = union_all(
        select(born.subquery().c.id.label("lead_id"), literal(0).label("stage")),
        select(sc.object_id.label("lead_id"), stage.label("stage"))
        .where(sc.object_type == "lead", sc.object_id.in_(born), sc.to_status.in_(_STAGE_OF)),
        select(Quote.lead_id, literal(_QUOTED).label("stage"))
        .where(Quote.lead_id.in_(born), Quote.submission > 0),
    ).subquery()
    furthest = (select(marks.c.lead_id, func.max(marks.c.stage).label("stage"))
                .group_by(marks.c.lead_id).subquery())
    counted: dict[int, int] = dict((await session.execute(
        select(furthest.c.stage, func.count()).group_by(furthest.c.stage))).all())
    reached = [sum(n for rank, n in counted.items() if rank >= at)
               for at in range(len(LEAD_STAGES))]
    rows = [{"stage": name, "reached": reached[at],
             "of_previous": share(reached[at], reached[at - 1]) if at else None,
             "of_all": share(reached[at], reached[0])}
            for at, name in enumerate(LEAD_STAGES)]
    return Chart("funnel", "lead_to_sale", COLUMNS, rows, where.covers())


async def statuses(session: AsyncSession, followed: Followed, where: Slice) -> Chart:
    """The cases born in the period that entered each of the process's statuses."""
    sc = StatusChange
    born = select(followed.model.id).where(*followed.cases(where))
    total = await session.scalar(select(func.count()).select_from(born.subquery())) or 0
    entered = dict((await session.execute(
        select(sc.to_status, func.count(distinct(sc.object_id)))
        .where(sc.object_type == followed.object_type, sc.object_id.in_(born),
               sc.from_status != sc.to_status)
        .group_by(sc.to_status))).all())
    entered[followed.born] = total
    return Chart("funnel", followed.process, COLUMNS,
                 _in_order(followed.statuses, entered, total), where.covers())


async def steps(session: AsyncSession, definition_id: int, version: int | None,
                where: Slice) -> Chart:
    """The enrolments of the period that entered each step of the definition."""
    born = select(Enrolment.id).where(*enrolments_of(definition_id, version),
                                      *where.bounds(Enrolment.created_at))
    total = await session.scalar(select(func.count()).select_from(born.subquery())) or 0
    entered = dict((await session.execute(
        select(EnrolmentStep.step, func.count(distinct(EnrolmentStep.enrolment_id)))
        .where(EnrolmentStep.enrolment_id.in_(born)).group_by(EnrolmentStep.step)
    )).all())
    order = await step_order(session, definition_id, version)
    order += sorted(step for step in entered if step not in order)
    return Chart("funnel", f"definition {definition_id}", COLUMNS,
                 _in_order(["enrolled", *order], {"enrolled": total, **entered}, total),
                 {**where.covers(), "version": version})


def enrolments_of(definition_id: int, version: int | None) -> list[Any]:
    """The conditions on ``Enrolment`` for the definition's enrolments (of one version)."""
    enrolled = [Enrolment.definition_id == definition_id]
    if version is not None:
        enrolled.append(Enrolment.version == version)
    return enrolled


async def step_order(session: AsyncSession, definition_id: int,
                     version: int | None) -> list[str]:
    """The steps of the definition's versions (or of one), newest version's order first."""
    query = (select(DefinitionVersion.body).where(DefinitionVersion.definition_id ==
                                                  definition_id)
             .order_by(DefinitionVersion.version.desc()))
    if version is not None:
        query = query.where(DefinitionVersion.version == version)
    order: list[str] = []
    for body in (await session.scalars(query)).all():
        order.extend(step["id"] for step in body.get("steps", []) if step["id"] not in order)
    return order


def _in_order(names: list[str], entered: dict[str, int], total: int) -> list[dict[str, Any]]:
    """Rows in the given order; no share of the previous row (cases take several paths)."""
    return [{"stage": name, "reached": entered.get(name, 0), "of_previous": None,
             "of_all": share(entered.get(name, 0), total)} for name in names]
