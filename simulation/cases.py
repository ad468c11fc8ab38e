"""Real past cases of a process, as a simulation replays them: what each was started with
(the recorded start, ``process_starts``) and what people and customers did to it, at their
offsets from its start (the status history: every change someone made, with who and when).

Read only. A quote's case is one submission; its outside events are the managers'
decisions, the author's sending and the customer's answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.models import ProcessStart, Quote, StatusChange, User
from crm.models.base import utcnow
from workflows.quote_approval import QuoteApproval
from workflows.quote_types import (
    CustomerResponse,
    ManagerDecision,
    QuoteApprovalInput,
    QuoteSending,
)
from workflows.registry import QUOTE_APPROVAL


@dataclass
class OutsideEvent:
    """Something a person or the customer did to the case, ``after`` its start."""

    after: timedelta
    what: str
    """As the result shows it: ``rejected by Maria``, ``sent by Alice``, ``won``."""
    update: Any
    argument: Any


@dataclass
class Case:
    name: str
    """``quote 12 submission 1``."""
    object_id: int
    started_at: datetime
    data: QuoteApprovalInput
    events: list[OutsideEvent] = field(default_factory=list)


@dataclass
class Selection:
    """Which cases: those started in a period (and a team), or named by their objects."""

    since: datetime | None = None
    until: datetime | None = None
    team_id: int | None = None
    object_ids: list[int] | None = None


_INPUT = TypeAdapter(QuoteApprovalInput)


async def quote_cases(session: AsyncSession, chosen: Selection, limit: int) -> list[Case]:
    """The quotes' submissions chosen, oldest first, at most ``limit`` (the caller says
    when there are more)."""
    query = select(ProcessStart).where(ProcessStart.process == QUOTE_APPROVAL.name,
                                       ProcessStart.started_at.is_not(None))
    if chosen.object_ids is not None:
        query = query.where(ProcessStart.object_id.in_(chosen.object_ids))
    if chosen.since is not None:
        query = query.where(ProcessStart.started_at >= chosen.since)
    if chosen.until is not None:
        query = query.where(ProcessStart.started_at < chosen.until)
    if chosen.team_id is not None:
        query = query.join(Quote, Quote.id == ProcessStart.object_id).where(
            Quote.team_id == chosen.team_id)
    starts = list(await session.scalars(query.order_by(ProcessStart.started_at,
                                                       ProcessStart.id).limit(limit + 1)))
    cases = []
    for start in starts:
        data = _INPUT.validate_json(start.input)
        assert start.started_at is not None
        cases.append(Case(f"quote {start.object_id} submission {data.submission}",
                          start.object_id, start.started_at, data))
    for case in cases:
        case.events = await _quote_events(session, case, _next_start(cases, case))
    return cases


def _next_start(cases: list[Case], case: Case) -> datetime | None:
    """When the same quote's next submission started: the end of this case's events."""
    later = [c.started_at for c in cases if c.object_id == case.object_id
             and c.data.submission > case.data.submission]
    return min(later) if later else None


async def _quote_events(session: AsyncSession, case: Case,
                        until: datetime | None) -> list[OutsideEvent]:
    query = select(StatusChange).where(
        StatusChange.object_type == "quote", StatusChange.object_id == case.object_id,
        StatusChange.changed_at >= case.started_at,
        StatusChange.to_status.in_(("validated", "rejected", "sent", "won", "lost")))
    if until is not None:
        query = query.where(StatusChange.changed_at < until)
    events = []
    for change in await session.scalars(query.order_by(StatusChange.changed_at,
                                                       StatusChange.id)):
        event = await _event(session, case, change)
        if event is not None:
            events.append(event)
    return events


async def _event(session: AsyncSession, case: Case, change: StatusChange
                 ) -> OutsideEvent | None:
    after = _aware(change.changed_at) - _aware(case.started_at)
    if change.to_status in ("won", "lost"):  # the customer's answer, whoever recorded it
        return OutsideEvent(after, change.to_status, QuoteApproval.customer_answered,
                            CustomerResponse(change.to_status == "won", change.actor_user_id,
                                             change.reason))
    person = await session.get(User, change.actor_user_id) if change.actor_user_id else None
    if person is None:
        return None  # the process's own rule (validated at once, by timeout): not an event
    if change.to_status == "sent":
        return OutsideEvent(after, f"sent by {person.name}", QuoteApproval.send_to_customer,
                            QuoteSending(person.id, person.role))
    return OutsideEvent(after, f"{change.to_status} by {person.name}", QuoteApproval.decide,
                        ManagerDecision(change.to_status == "validated", person.id, person.role,
                                        person.team_id, change.reason))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def since_days(days: int) -> datetime:
    return utcnow() - timedelta(days=days)
