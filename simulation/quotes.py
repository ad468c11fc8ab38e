"""The quote rule as a simulation runs it: a case is one submission; its outside events are
the managers' decisions, the author's sending and the customer's answer, read from the
status history (a change someone made: who and when)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.models import StatusChange, User
from crm.policies import Policies
from simulation.cases import Case, OutsideEvent, Subject, aware, fixed
from workflows.quote_approval import QuoteApproval
from workflows.quote_types import (
    CustomerResponse,
    ManagerDecision,
    QuoteApprovalInput,
    QuoteApprovalPolicy,
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


def prepared(data: QuoteApprovalInput, policy: QuoteApprovalPolicy,
             _shift: timedelta) -> QuoteApprovalInput:
    return dataclasses.replace(data, policy=policy)


def _in_force(policies: Policies) -> Any:
    return policies.quote_approval


QUOTES = Subject(
    process=QUOTE_APPROVAL, run=QuoteApproval.run,
    name=lambda data: f"quote {data.quote_id} submission {data.submission}",
    events=events, prepared=prepared, policy_in_force=_in_force,
    outcomes=("validated", "rejected"), asking=("pending_approval", "escalated"),
    simulated_by=(Role.SALES_MANAGER,))
