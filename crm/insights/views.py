"""The views by name, and who each is for: one entry point for the API, the console and the
bench."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.insights import approvals, attainment, cash, cycle_times, forecast, funnel, sla
from crm.insights.charts import Chart, Refused, Slice
from crm.insights.objectives import Objective, of_definition
from crm.insights.processes import FOLLOWED, Followed, named
from crm.models import DefinitionVersion
from workflows.roles import Role

REP, MANAGER, ACCOUNTANT = Role.SALES_REP, Role.SALES_MANAGER, Role.ACCOUNTANT
AGENT, SUPPORT_LEAD = Role.SUPPORT_AGENT, Role.SUPPORT_LEAD
SALES, SUPPORT, ACCOUNTING = frozenset({REP, MANAGER}), frozenset({AGENT, SUPPORT_LEAD}), \
    frozenset({ACCOUNTANT})

READERS: dict[str, frozenset[Role]] = {
    "lead_to_sale": SALES, "quote_approval": SALES, "sale_to_project": SALES,
    "support_ticket": SUPPORT, "invoice_dunning": ACCOUNTING,
}
"""Who reads a process's funnel and cycle times (admins read every view)."""
DESIGNERS = frozenset({MANAGER, SUPPORT_LEAD})
"""Who reads a workflow of their own's views (as they design them)."""


@dataclass(frozen=True)
class Asked:
    """What a view is asked about: a process, or a definition (and a version) of your own."""

    process: str | None = None
    definition_id: int | None = None
    version: int | None = None
    objectives: tuple[Objective, ...] = ()
    """The process's objectives, from the policy in force (a definition carries its own)."""
    every: str = "month"
    """The periods objectives are counted by: month, week or day."""

    def readers(self) -> frozenset[Role]:
        if self.definition_id is not None:
            return DESIGNERS
        return READERS[named(self.process or "").process]


async def funnel_of(session: AsyncSession, asked: Asked, where: Slice) -> Chart:
    if asked.definition_id is not None:
        return await funnel.steps(session, asked.definition_id, asked.version, where)
    followed = _one_process(asked)
    if followed.process == "lead_to_sale":
        return await funnel.lead_to_sale(session, where)
    return await funnel.statuses(session, followed, where)


async def cycle_times_of(session: AsyncSession, asked: Asked, where: Slice) -> Chart:
    if asked.definition_id is not None:
        return await cycle_times.steps(session, asked.definition_id, asked.version, where)
    return await cycle_times.statuses(session, _one_process(asked), where)


async def objectives_of(session: AsyncSession, asked: Asked, where: Slice) -> Chart:
    if asked.definition_id is None:
        return await attainment.of_process(session, _one_process(asked),
                                           list(asked.objectives), where, asked.every)
    query = (select(DefinitionVersion.body)
             .where(DefinitionVersion.definition_id == asked.definition_id)
             .order_by(DefinitionVersion.version.desc()).limit(1))
    if asked.version is not None:
        query = query.where(DefinitionVersion.version == asked.version)
    body = await session.scalar(query) or {}
    return await attainment.of_definition(session, asked.definition_id, asked.version,
                                          of_definition(body), where, asked.every)


def _one_process(asked: Asked) -> Followed:
    if asked.process is None:
        raise Refused("process", f"name a process ({', '.join(FOLLOWED)}) or a definition")
    return named(asked.process)


View = Callable[[AsyncSession, Asked, Slice], Awaitable[Chart]]


def _fixed(process: str, answer: Callable[[AsyncSession, Slice], Awaitable[Chart]]) -> View:
    async def view(session: AsyncSession, asked: Asked, where: Slice) -> Chart:
        if asked.definition_id is not None or asked.process not in (None, process):
            raise Refused("process", f"this view is about {process} only")
        return await answer(session, where)
    return view


ABOUT_ONE: dict[str, tuple[str, Callable[[AsyncSession, Slice], Awaitable[Chart]]]] = {
    "approvals": ("quote_approval", approvals.approvals),
    "sla": ("support_ticket", sla.sla),
    "cash": ("invoice_dunning", cash.cash),
    "forecast": ("quote_approval", forecast.forecast),
}
"""The views about one process, and that process."""
SUBJECT = {view: process for view, (process, _) in ABOUT_ONE.items()}
VIEWS: dict[str, View] = {
    "funnel": funnel_of,
    "cycle-times": cycle_times_of,
    "objectives": objectives_of,
    **{view: _fixed(process, answer) for view, (process, answer) in ABOUT_ONE.items()},
}
