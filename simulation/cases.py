"""Real past cases of a process, as a simulation replays them: what each was started with
(its recorded start, ``process_starts``, the input as it was sent) and what people and
customers did to it, at their offsets from its start. Read only.

What a process needs to be simulated — which of its recorded happenings are outside events
and how they reach it, what its outcome is, how its input is moved to the simulation's
clock — is its :class:`Subject` (``simulation/quotes.py``, ``simulation/invoices.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.models import ProcessStart
from crm.repo.own import MODELS
from workflows.registry import ProcessSpec


@dataclass
class OutsideEvent:
    """Something a person, the customer or another system did to the case, ``after`` its
    start."""

    after: timedelta
    what: str
    """As the result shows it: ``rejected by Maria``, ``sent by Alice``, ``paid 600.00``."""
    update: Any
    argument: Callable[[timedelta], Any]
    """The update's argument, its dates moved by the simulation's shift."""
    decision: bool = False
    """A person's answer to what the process asks (a manager's decision)."""
    signal: bool = False
    """Sent as a signal (``update`` names it), not an update."""


@dataclass
class Case:
    name: str
    """``quote 12 submission 1``."""
    object_id: int
    workflow_id: str
    started_at: datetime
    data: Any
    events: list[OutsideEvent] = field(default_factory=list)


@dataclass
class Happening:
    """What someone did to a made-up case, ``after`` its start: a status a person or the
    customer brings about (a quote ``validated`` or ``rejected`` by a manager, ``sent`` by
    its author, ``won`` or ``lost``)."""

    after: timedelta
    status: str


@dataclass
class MadeUp:
    """A case that never happened, for a scenario: a quote's discount and total, and what
    people do to it."""

    discount_pct: Decimal
    total: Decimal = Decimal(1000)
    happenings: list[Happening] = field(default_factory=list)


@dataclass
class Selection:
    """Which cases: those started in a period (and of a team), named by their objects, or
    made up (a scenario, in a team)."""

    since: datetime | None = None
    until: datetime | None = None
    team_id: int | None = None
    object_ids: list[int] | None = None
    scenario: list[MadeUp] | None = None


Events = Callable[[AsyncSession, Case, datetime | None], Awaitable[list[OutsideEvent]]]


@dataclass(frozen=True)
class Subject:
    """A process as a simulation runs it."""

    process: ProcessSpec
    run: Any
    """The workflow's run method."""
    name: Callable[[Any], str]
    """A case's name from its input."""
    events: Events
    """The case's outside events (until the same object's next start, when given)."""
    prepared: Callable[[Any, Any, timedelta], Any]
    """The input with a policy, its dates moved by the shift to the simulation's clock."""
    outcomes: tuple[str, ...]
    """The statuses that end what the simulation compares; the first reached counts."""
    asking: tuple[str, ...] = ()
    """The statuses in which the process waits for a person's decision."""
    made_up: Callable[[AsyncSession, Selection], Awaitable[list[Case]]] | None = None
    """The cases of a scenario (None: the process takes no scenario)."""
    follows: str | None = None
    """The object whose statuses the timelines show (the process's own by default)."""
    simulated_by: tuple[str, ...] = ()
    """Who besides admins may simulate it (a sales manager: their team's cases only)."""
    horizon: timedelta = timedelta(days=120)
    """How long a run is followed (at least a day past its case's last event): a run still
    open then (an invoice in collections, waiting for a payment that never came) is
    stopped, and said to be open."""


async def past_cases(session: AsyncSession, subject: Subject, chosen: Selection,
                     limit: int) -> list[Case]:
    """The cases chosen, oldest first, at most ``limit + 1`` (so the caller can tell there
    were more than it runs); a scenario's, as made up."""
    if chosen.scenario is not None:
        assert subject.made_up is not None, "checked when asked"
        return (await subject.made_up(session, chosen))[:limit + 1]
    spec = subject.process
    query = select(ProcessStart).where(ProcessStart.process == spec.name,
                                       ProcessStart.started_at.is_not(None))
    if chosen.object_ids is not None:
        query = query.where(ProcessStart.object_id.in_(chosen.object_ids))
    if chosen.since is not None:
        query = query.where(ProcessStart.started_at >= chosen.since)
    if chosen.until is not None:
        query = query.where(ProcessStart.started_at < chosen.until)
    if chosen.team_id is not None:
        model: Any = MODELS[spec.object_type]
        query = query.join(model, model.id == ProcessStart.object_id).where(
            model.team_id == chosen.team_id)
    reading: TypeAdapter[Any] = TypeAdapter(spec.input_type)
    cases = []
    for start in await session.scalars(query.order_by(ProcessStart.started_at,
                                                      ProcessStart.id).limit(limit + 1)):
        data = reading.validate_json(start.input)
        assert start.started_at is not None
        cases.append(Case(subject.name(data), start.object_id, start.workflow_id,
                          aware(start.started_at), data))
    for case in cases:
        later = [c.started_at for c in cases
                 if c.workflow_id == case.workflow_id and c.started_at > case.started_at]
        case.events = await subject.events(session, case, min(later) if later else None)
    return cases


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def fixed(argument: Any) -> Callable[[timedelta], Any]:
    """An argument with no date in it: the same whatever the shift."""
    return lambda _shift: argument
