"""The processes a view can question: the object each follows, the status it is born in,
its statuses in the order a case meets them, and whose and which team's a case is."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.insights.charts import Refused, Slice
from crm.models import Invoice, Lead, Project, Quote, Sale, Ticket, User
from workflows import invoice_dunning, lead_to_sale, quote_approval, sale_to_project, support_ticket

Condition = ColumnElement[bool]


@dataclass(frozen=True)
class Followed:
    process: str
    object_type: str
    model: Any
    born: str
    """The status a case has when it is created (its first stay starts at ``created_at``)."""
    transitions: dict[str, tuple[str, ...]]
    owner: Callable[[int], Condition] | None
    team: Callable[[int], Condition] | None
    order: tuple[str, ...] = ()
    """The statuses in the order a case meets them, where the transitions do not say it."""
    moments: dict[str, Any] = field(default_factory=dict)
    """The moments the process keeps on the object besides its statuses (an objective may
    reach one): a ticket's first response."""
    dimensions: dict[str, Any] = field(default_factory=dict)
    """What an objective may narrow the cases by (``where``): a ticket's priority."""

    @property
    def statuses(self) -> list[str]:
        """Every status, in the order a case first meets it."""
        seen = list(self.order or (self.born,))
        for source, targets in self.transitions.items():
            seen.extend(status for status in (source, *targets) if status not in seen)
        return seen

    def cases(self, where: Slice, *, born_in_period: bool = True) -> list[Condition]:
        """The conditions on ``model`` for the slice's cases (created in its period)."""
        found: list[Condition] = where.bounds(self.model.created_at) if born_in_period else []
        for name, value, condition in (("owner", where.owner_id, self.owner),
                                       ("team", where.team_id, self.team)):
            if value is None:
                continue
            if condition is None:
                raise Refused(name, f"{self.process}'s {self.object_type}s have no {name}")
            found.append(condition(value))
        return found


async def names_of(session: AsyncSession, user_ids: Iterable[int]) -> dict[int, str]:
    """The names of these users, by id."""
    return dict((await session.execute(
        select(User.id, User.name).where(User.id.in_(list(user_ids))))).all())


def _in_team(column: Any) -> Callable[[int], Condition]:
    return lambda team_id: column.in_(select(User.id).where(User.team_id == team_id))


def _sold_by(team_id: int) -> Condition:
    return Project.sale_id.in_(select(Sale.id).where(Sale.team_id == team_id))


FOLLOWED: dict[str, Followed] = {followed.process: followed for followed in (
    Followed("lead_to_sale", "lead", Lead, "new", lead_to_sale.TRANSITIONS,
             lambda user: Lead.owner_id == user, lambda team: Lead.team_id == team,
             ("new", "nurturing", "engaged", "qualified", "won", "disqualified", "dormant"),
             dimensions={"source": Lead.source, "country": Lead.country}),
    Followed("quote_approval", "quote", Quote, "draft",
             {"draft": ("submitted",), **quote_approval.TRANSITIONS},
             lambda user: Quote.author_id == user, lambda team: Quote.team_id == team),
    Followed("invoice_dunning", "invoice", Invoice, "open", invoice_dunning.TRANSITIONS,
             None, None),
    Followed("support_ticket", "ticket", Ticket, "new", support_ticket.TRANSITIONS,
             lambda user: Ticket.assignee_id == user, _in_team(Ticket.assignee_id),
             moments={"first_response": Ticket.first_responded_at},
             dimensions={"priority": func.coalesce(Ticket.opened_priority, Ticket.priority),
                         "category": Ticket.category}),
    Followed("sale_to_project", "project", Project, "planned", sale_to_project.TRANSITIONS,
             lambda user: Project.manager_id == user, _sold_by),
)}


def named(process: str, choices: Iterable[str] | None = None) -> Followed:
    """The process of this name; Refused listing the names there are."""
    allowed = list(choices or FOLLOWED)
    if process not in allowed:
        raise Refused("process", f"unknown process {process!r}; one of: {', '.join(allowed)}")
    return FOLLOWED[process]
