"""A simulation from what was asked to what it found: a built-in process with a proposed
policy (the one in force with some values changed, checked as the policy file is), or a
workflow of your own with its draft (or a version) against its active version; the cases
chosen, within the policy's bounds — for the API's durable runs and the CLI alike."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession

from crm import db
from crm.errors import Conflict, NotFound
from crm.models.base import utcnow
from crm.own import definitions, reading
from crm.policies import Policies, PolicyError, changed
from simulation import own, report
from simulation.cases import Case, Selection, Subject, past_cases
from simulation.engine import Simulator
from simulation.invoices import INVOICES
from simulation.quotes import QUOTES
from workflows.own.definition import read

SUBJECTS: dict[str, Subject] = {s.process.name: s for s in (QUOTES, INVOICES)}
"""The built-in processes a simulation can replay, by name."""


class Refused(ValueError):
    """A simulation that cannot be run as asked; ``field`` names what to change."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


@dataclass
class OwnAsked:
    """A workflow of your own: its draft (``version`` None) or one of its versions, against
    the version active now."""

    id: int
    version: int | None = None


@dataclass
class Asked:
    process: str | None = None
    policy: dict[str, Any] = field(default_factory=dict)
    """The values to change in the policy in force (as in the policy file's table)."""
    cases: Selection = field(default_factory=Selection)
    definition: OwnAsked | None = None


ASKED = TypeAdapter(Asked)
"""What was asked, to and from the JSON a simulation's row keeps."""
Cases = Callable[[AsyncSession, Selection, int], Awaitable[list[Case]]]


@dataclass
class Prepared:
    subject: Subject
    in_force: Any
    proposed: Any
    cases: Cases
    shown: Callable[[Any], Any]
    """A policy or a definition as the result shows it."""


async def prepare(session: AsyncSession, asked: Asked, policies: Policies) -> Prepared:
    """What to run; Refused naming the field at fault."""
    if asked.definition is not None:
        return await _own(session, asked.definition, policies)
    subject = SUBJECTS.get(asked.process or "")
    if subject is None:
        raise Refused("process", f"{asked.process!r} cannot be simulated (it may be "
                                 f"{', '.join(SUBJECTS)}; or name a definition)")
    table = subject.process.policy_table
    in_force = getattr(policies, table)
    try:
        proposed = changed(table, in_force, asked.policy, "policy")
    except PolicyError as error:
        raise Refused("policy", str(error).removeprefix("policy: ")) from None
    dump: Any = TypeAdapter(subject.process.policy_type).dump_python

    async def cases(session: AsyncSession, chosen: Selection, limit: int) -> list[Case]:
        return await past_cases(session, subject, chosen, limit)

    return Prepared(subject, in_force, proposed, cases, lambda p: dump(p, mode="json"))


async def _own(session: AsyncSession, asked: OwnAsked, policies: Policies) -> Prepared:
    try:
        row = await definitions.get(session=session, definition_id=asked.id)
    except NotFound:
        raise Refused("definition.id", f"no workflow definition {asked.id}") from None
    if asked.version is None:
        if row.draft is None:
            raise Refused("definition.version", f"workflow definition {row.id} has no draft: "
                                                f"name a version")
        try:
            proposed = reading.definition(row.draft, policies)
        except reading.Invalid as error:
            raise Refused("definition", f"the draft cannot run: {error}") from None
    else:
        try:
            found = await definitions.version(session=session, definition_id=row.id,
                                              number=asked.version)
        except NotFound:
            raise Refused("definition.version", f"workflow definition {row.id} has no "
                                                f"version {asked.version}") from None
        proposed = read(found.body)
    in_force = await definitions.active(session=session, row=row)
    calendars = reading.calendars(policies, utcnow().year)

    async def cases(session: AsyncSession, chosen: Selection, limit: int) -> list[Case]:
        return await own.objects(session, row.id, row.object_type, chosen, limit, calendars)

    def shown(definition: Any) -> Any:
        return None if definition is None else {"name": definition.name,
                                                "steps": len(definition.steps)}

    return Prepared(own.subject(row.object_type), in_force, proposed, cases, shown)


Progress = Callable[[int, int], Awaitable[None]]
"""Told the cases done and their total, after each case."""


async def simulate(sessions: db.Sessions, asked: Asked, policies: Policies,
                   progress: Progress | None = None) -> dict[str, Any]:
    """Run it (within the policy's case limit and time limit) and answer what it found."""
    bounds = policies.simulation
    async with sessions() as session:
        prepared = await prepare(session, asked, policies)
        cases = await prepared.cases(session, asked.cases, bounds.max_cases)
    if len(cases) > bounds.max_cases:
        raise Conflict(f"more than {bounds.max_cases} cases: choose a shorter period or a "
                       f"team (the [simulation] max_cases)")

    async def each(done: int) -> None:
        if progress is not None:
            await progress(done, len(cases))

    await each(0)
    try:
        async with asyncio.timeout(bounds.time_limit.total_seconds()):
            results = await Simulator(sessions, prepared.subject).run(
                cases, prepared.in_force, prepared.proposed, each)
    except TimeoutError:
        raise Conflict(f"the simulation took longer than its time limit "
                       f"({bounds.time_limit}): choose fewer cases") from None
    return {"process": prepared.subject.process.name, "changes": asked.policy,
            "definition": None if asked.definition is None else {
                "id": asked.definition.id, "version": asked.definition.version},
            "policy": {"in_force": prepared.shown(prepared.in_force),
                       "proposed": prepared.shown(prepared.proposed)},
            "summary": report.summary(results), "cases": report.cases(results)}
