"""The quote rule as a simulation runs it: a case is one submission; its outside events are
the managers' decisions, the author's sending and the customer's answer, read from the
status history (a change someone made: who and when)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import Conflict
from crm.models import StatusChange, User
from crm.models.base import utcnow
from crm.repo import people
from simulation.cases import (
    Case,
    Happening,
    OutsideEvent,
    Selection,
    Subject,
    aware,
    fixed,
)
from workflows.contracts import Person
from workflows.quote_approval import QuoteApproval
from workflows.quote_types import (
    CustomerResponse,
    ManagerDecision,
    QuoteApprovalInput,
    QuoteApprovalPolicy,
    QuotedLine,
    QuoteSending,
)
from workflows.registry import QUOTE_APPROVAL
from workflows.roles import Role


async def events(session: AsyncSession, case: Case,
                 until: datetime | None) -> list[OutsideEvent]:
    query = select(StatusChange).where(
        StatusChange.object_type == "quote", StatusChange.object_id == case.object_id,
        StatusChange.changed_at >= case.started_at,
        StatusChange.to_status.in_(("validated", "rejected", "sent", "won", "lost")))
    if until is not None:
        query = query.where(StatusChange.changed_at < until)
    found = []
    for change in await session.scalars(query.order_by(StatusChange.changed_at,
                                                       StatusChange.id)):
        event = await _event(session, case, change)
        if event is not None:
            found.append(event)
    return found


async def _event(session: AsyncSession, case: Case, change: StatusChange
                 ) -> OutsideEvent | None:
    after = aware(change.changed_at) - case.started_at
    if change.to_status in ("won", "lost"):  # the customer's answer, whoever recorded it
        return OutsideEvent(after, change.to_status, QuoteApproval.customer_answered,
                            fixed(CustomerResponse(change.to_status == "won",
                                                   change.actor_user_id, change.reason)))
    person = await session.get(User, change.actor_user_id) if change.actor_user_id else None
    if person is None:
        return None  # the process's own rule (validated at once, by timeout): not an event
    if change.to_status == "sent":
        return OutsideEvent(after, f"sent by {person.name}", QuoteApproval.send_to_customer,
                            fixed(QuoteSending(person.id, person.role)))
    return OutsideEvent(after, f"{change.to_status} by {person.name}", QuoteApproval.decide,
                        fixed(ManagerDecision(change.to_status == "validated", person.id,
                                              person.role, person.team_id, change.reason)),
                        decision=True)


async def made_up(session: AsyncSession, chosen: Selection) -> list[Case]:
    """A scenario's quotes, authored by the team's first sales rep and decided by its first
    sales manager (the real people: those asked for a decision are the team's managers)."""
    assert chosen.scenario is not None and chosen.team_id is not None, "checked when asked"
    reps = await people.active_users(session=session, roles=[Role.SALES_REP],
                                     team_id=chosen.team_id)
    managers = await people.active_users(session=session, roles=[Role.SALES_MANAGER],
                                         team_id=chosen.team_id)
    if not reps or not managers:
        raise Conflict(f"team {chosen.team_id} has no sales rep and manager to play a scenario")
    author, manager = reps[0], managers[0]
    cases = []
    for n, quote in enumerate(chosen.scenario, start=1):
        data = QuoteApprovalInput(
            quote_id=-n, lead_id=-n, submission=1,
            author=Person(author.id, author.name, author.email), team_id=chosen.team_id,
            customer=f"Scenario customer {n}", customer_id=None, contact_name="A buyer",
            contact_email=f"buyer-{n}@scenario.invalid", currency="EUR",
            lines=[QuotedLine("As in the scenario", Decimal(1), quote.total)],
            discount_pct=quote.discount_pct,
            total=(quote.total * (100 - quote.discount_pct) / 100).quantize(Decimal("0.01")))
        events = [_made_up(h, author, manager) for h in quote.happenings]
        cases.append(Case(f"scenario quote {n}", -n, f"quote--{n}", utcnow(), data,
                          sorted(events, key=lambda e: e.after)))
    return cases


def _made_up(happening: Happening, author: User, manager: User) -> OutsideEvent:
    status, after = happening.status, happening.after
    if status in ("won", "lost"):
        return OutsideEvent(after, status, QuoteApproval.customer_answered,
                            fixed(CustomerResponse(status == "won", None, "in the scenario")))
    if status == "sent":
        return OutsideEvent(after, f"sent by {author.name}", QuoteApproval.send_to_customer,
                            fixed(QuoteSending(author.id, author.role)))
    return OutsideEvent(after, f"{status} by {manager.name}", QuoteApproval.decide,
                        fixed(ManagerDecision(status == "validated", manager.id, manager.role,
                                              manager.team_id, "in the scenario")),
                        decision=True)


def prepared(data: QuoteApprovalInput, policy: QuoteApprovalPolicy,
             _shift: timedelta) -> QuoteApprovalInput:
    return dataclasses.replace(data, policy=policy)


QUOTES = Subject(
    process=QUOTE_APPROVAL, run=QuoteApproval.run,
    name=lambda data: f"quote {data.quote_id} submission {data.submission}",
    events=events, prepared=prepared,
    outcomes=("validated", "rejected"), asking=("pending_approval", "escalated"),
    made_up=made_up, simulated_by=(Role.SALES_MANAGER,))
