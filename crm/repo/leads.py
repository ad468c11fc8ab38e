"""Leads, what they do, who follows them, and the opportunity a qualified lead becomes."""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Row, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from crm.errors import NotFound
from crm.models import Account, Contact, Lead, LeadEvent, Task, Team, User
from crm.models.sales import ACTIVE_LEAD_STATUSES
from crm.repo import scopes
from crm.repo.query import LIMIT, OFFSET, Columns, Rows, given, rows, where_named
from crm.repo.scopes import Scope
from workflows.roles import Role


async def create_lead(*, session: AsyncSession, **fields: object) -> Lead:
    lead = Lead(**fields)
    session.add(lead)
    await session.flush()
    lead.workflow_id = f"lead-{lead.id}"
    return lead


async def active_lead_with(*, session: AsyncSession, email: str) -> int | None:
    """The id of the lead still followed under this email, if any."""
    return await session.scalar(
        select(Lead.id).where(Lead.email == email, Lead.status.in_(ACTIVE_LEAD_STATUSES)))


async def get_lead(*, session: AsyncSession, lead_id: int) -> Lead:
    lead = await session.get(Lead, lead_id)
    if lead is None:
        raise NotFound("lead", lead_id)
    return lead


SHOWN = (Lead.id, Lead.name, Lead.email, Lead.company, Lead.country, Lead.source,
         Lead.team_id, Lead.owner_id, Lead.status, Lead.status_reason, Lead.need, Lead.budget,
         Lead.unsubscribed, Lead.account_id, Lead.contact_id, Lead.workflow_id,
         Lead.created_at)
"""A lead's columns as the API shows it."""
EVENTS = (select(LeadEvent.id, LeadEvent.type, LeadEvent.content, LeadEvent.created_at)
          .where(LeadEvent.lead_id == bindparam("lead_id")).order_by(LeadEvent.id))


@functools.cache
def _page(scope: Scope, has_team: bool, filters: tuple[str, ...]) -> Columns:
    """The statement of a page of leads filtered by these columns: built once for each."""
    within = scopes.within_any(Lead, scope, has_team)
    return (where_named(select(*SHOWN).where(within), Lead, filters)
            .order_by(Lead.id.desc()).limit(LIMIT).offset(OFFSET))


@functools.cache
def _one(scope: Scope, has_team: bool) -> Columns:
    within = scopes.within_any(Lead, scope, has_team)
    return select(*SHOWN).where(Lead.id == bindparam("lead_id"), within)


async def shown_leads(
    *,
    connection: AsyncConnection,
    user: User,
    scope: Scope,
    status: str | None = None,
    owner_id: int | None = None,
    team_id: int | None = None,
    email: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Rows:
    """``list_leads`` as rows of ``SHOWN``: newest first, within the user's scope."""
    filters = given({"status": status, "owner_id": owner_id, "team_id": team_id,
                     "email": email})
    statement = _page(scope, user.team_id is not None, tuple(filters))
    return await rows(connection, statement, {**filters, **scopes.parameters(user),
                                              "limit": limit, "offset": offset})


async def shown_lead(*, connection: AsyncConnection, lead_id: int, user: User | None = None,
                     scope: Scope = Scope.ALL) -> Row[Any] | None:
    """The lead's row of ``SHOWN`` if it is within the user's scope (without a user: any)."""
    has_team = user is not None and user.team_id is not None
    parameters = scopes.parameters(user) if user is not None else {}
    found = await rows(connection, _one(scope, has_team), {"lead_id": lead_id, **parameters})
    return found[0] if found else None


async def events_shown(*, connection: AsyncConnection, lead_id: int) -> Rows:
    """What the lead did, oldest first."""
    return await rows(connection, EVENTS, {"lead_id": lead_id})


async def sales_teams(*, session: AsyncSession) -> list[Team]:
    """The teams that take leads: those with an active sales rep to follow them, by id."""
    reps = select(User.team_id).where(User.active, User.role == Role.SALES_REP.value)
    return list(await session.scalars(select(Team).where(Team.id.in_(reps)).order_by(Team.id)))


async def add_event(
    *,
    session: AsyncSession,
    lead: Lead,
    type: str,
    content: str | None,
    recorded_by_id: int | None,
) -> LeadEvent:
    event = LeadEvent(lead_id=lead.id, type=type, content=content, recorded_by_id=recorded_by_id)
    session.add(event)
    if type == "unsubscribed":
        lead.unsubscribed = True
    await session.flush()
    return event


async def assign_sales_rep(
    *, session: AsyncSession, lead_id: int, rule: Literal["round_robin", "least_loaded"]
) -> User | None:
    """The lead's owner; if it has none, the next active rep of its team by the rule.

    Round-robin takes the team's reps in turn; least-loaded takes the rep with the fewest
    open tasks and active leads. None when no active rep of its team can take it, and for
    a lead without a team (the API gives every new lead one): never another team's rep.
    """
    lead = await session.get(Lead, lead_id, with_for_update=True)
    if lead is None:
        raise NotFound("lead", lead_id)
    if lead.owner_id is not None:
        return await session.get(User, lead.owner_id)
    if lead.team_id is None:
        return None
    reps = list(await session.scalars(select(User).where(
        User.active, User.role == Role.SALES_REP.value, User.team_id == lead.team_id,
    ).order_by(User.id)))
    if not reps:
        return None
    if rule == "round_robin":
        team = await session.get(Team, lead.team_id, with_for_update=True)
        assert team is not None
        after = [r for r in reps if team.last_assigned_user_id is not None
                 and r.id > team.last_assigned_user_id]
        rep = after[0] if after else reps[0]
        team.last_assigned_user_id = rep.id
    else:
        loads = await _loads(session=session, user_ids=[r.id for r in reps])
        rep = min(reps, key=lambda r: (loads.get(r.id, 0), r.id))
    lead.owner_id = rep.id
    await session.flush()
    return rep


async def _loads(*, session: AsyncSession, user_ids: list[int]) -> dict[int, int]:
    """Open tasks plus active leads, per user."""
    loads: dict[int, int] = dict.fromkeys(user_ids, 0)
    tasks = await session.execute(
        select(Task.assignee_id, func.count(Task.id))
        .where(Task.assignee_id.in_(user_ids), Task.status == "open")
        .group_by(Task.assignee_id)
    )
    leads = await session.execute(
        select(Lead.owner_id, func.count(Lead.id))
        .where(Lead.owner_id.in_(user_ids), Lead.status.in_(ACTIVE_LEAD_STATUSES))
        .group_by(Lead.owner_id)
    )
    for user_id, count in [*tasks.all(), *leads.all()]:
        if user_id is not None:
            loads[user_id] += count
    return loads


async def open_opportunity(
    *, session: AsyncSession, lead_id: int, owner_id: int, need: str, budget: Decimal
) -> Lead:
    """A qualified lead becomes an opportunity: its account and contact exist from now on."""
    lead = await session.get(Lead, lead_id, with_for_update=True)
    if lead is None:
        raise NotFound("lead", lead_id)
    lead.need, lead.budget = need, budget
    if lead.owner_id is None:
        lead.owner_id = owner_id
    if lead.account_id is None:
        account = Account(name=lead.company or lead.name, owner_id=lead.owner_id,
                          team_id=lead.team_id, billing_email=lead.email)
        session.add(account)
        await session.flush()
        contact = Contact(account_id=account.id, name=lead.name, email=lead.email,
                          phone=lead.phone)
        session.add(contact)
        await session.flush()
        lead.account_id, lead.contact_id = account.id, contact.id
    await session.flush()
    return lead
