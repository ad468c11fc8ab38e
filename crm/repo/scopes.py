"""Whose an object is: for each kind of object, the rows in a user's own scope and in their
team's, as one SQL condition that the lists filter by and a lookup checks one object against.

- a lead: own — its owner, or nobody yet while it is in the user's team; team — its team;
- a quote: own — its author; team — its team (the author's when it was drafted);
- a sale: own — its rep; team — its team;
- a project: own — its manager and the people on it; team — its sale's team;
- a ticket: own — its agent, or nobody yet (the support queue); team — an agent of the
  user's team, or nobody yet;
- a task: own — its assignee; team — an assignee of the user's team.

A team's scope holds the user's own objects too. A user without a team has no team's
objects. Invoices have no owner or team of their own: whoever reads them reads them all.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from enum import StrEnum
from types import SimpleNamespace
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, bindparam, exists, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from crm.models import Lead, Project, ProjectMember, Quote, Sale, Task, Ticket, User


class Scope(StrEnum):
    """How far a user's right reaches."""

    OWN = "own"
    TEAM = "team"
    ALL = "all"


Condition = ColumnElement[bool]


def _team_of(user: User) -> Any:
    """The users of the user's team (none for a user without a team)."""
    return select(User.id).where(User.team_id == user.team_id, User.team_id.is_not(None))


def _in_team(column: Any, user: User) -> Condition:
    return column == user.team_id if user.team_id is not None else false()


_OWN: dict[type, Callable[[User], Condition]] = {
    Lead: lambda user: or_(Lead.owner_id == user.id,
                           and_(Lead.owner_id.is_(None), _in_team(Lead.team_id, user))),
    Quote: lambda user: Quote.author_id == user.id,
    Sale: lambda user: Sale.owner_id == user.id,
    Project: lambda user: or_(Project.manager_id == user.id, Project.id.in_(
        select(ProjectMember.project_id).where(ProjectMember.user_id == user.id))),
    Ticket: lambda user: or_(Ticket.assignee_id == user.id, Ticket.assignee_id.is_(None)),
    Task: lambda user: Task.assignee_id == user.id,
}
_TEAM: dict[type, Callable[[User], Condition]] = {
    Lead: lambda user: _in_team(Lead.team_id, user),
    Quote: lambda user: _in_team(Quote.team_id, user),
    Sale: lambda user: _in_team(Sale.team_id, user),
    Project: lambda user: Project.sale_id.in_(
        select(Sale.id).where(_in_team(Sale.team_id, user))),
    Ticket: lambda user: or_(Ticket.assignee_id.is_(None),
                             Ticket.assignee_id.in_(_team_of(user))),
    Task: lambda user: Task.assignee_id.in_(_team_of(user)),
}
KINDS = frozenset(_OWN)
"""The kinds of object that have an owner and a team."""


def within(kind: type, user: User, scope: Scope) -> Condition:
    """The rows of this kind within the user's scope."""
    if scope == Scope.ALL:
        return true()
    own = _OWN[kind](user)
    return own if scope == Scope.OWN else or_(own, _TEAM[kind](user))


_ANY_USER = {
    True: SimpleNamespace(id=bindparam("scope_user_id", type_=Integer),
                          team_id=bindparam("scope_team_id", type_=Integer)),
    False: SimpleNamespace(id=bindparam("scope_user_id", type_=Integer), team_id=None),
}
"""A user with a team, and one without, as statement parameters (``parameters``)."""


@functools.cache
def within_any(kind: type, scope: Scope, has_team: bool) -> Condition:
    """``within`` for any user with (or without) a team, the user given as ``parameters``
    when the statement runs: a statement built on it is built (and compiled) once, not
    once per request."""
    return within(kind, _ANY_USER[has_team], scope)  # type: ignore[arg-type]


def parameters(user: User) -> dict[str, Any]:
    """The values of ``within_any``'s parameters for this user."""
    return {"scope_user_id": user.id, "scope_team_id": user.team_id}


async def holds(*, session: AsyncSession, kind: type, object_id: int, user: User,
                scope: Scope) -> bool:
    """Whether the object of this kind and id is within the user's scope."""
    if scope == Scope.ALL:
        return True
    key = kind.id  # type: ignore[attr-defined]
    return bool(await session.scalar(select(exists().where(key == object_id,
                                                           within(kind, user, scope)))))
