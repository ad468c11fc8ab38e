"""A simulation from what was asked to what it found: the process, the proposed policy
(the one in force with some values changed, checked as the policy file is), the cases
chosen, within the policy's bounds — for the API's durable runs and the CLI alike."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter

from crm import db
from crm.errors import Conflict
from crm.policies import Policies, PolicyError, changed
from simulation import report
from simulation.cases import Selection, Subject, past_cases
from simulation.engine import Simulator
from simulation.quotes import QUOTES

SUBJECTS: dict[str, Subject] = {QUOTES.process.name: QUOTES}
"""The processes a simulation can replay, by name."""


class Refused(ValueError):
    """A simulation that cannot be run as asked; ``field`` names what to change."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


@dataclass
class Asked:
    process: str
    policy: dict[str, Any] = field(default_factory=dict)
    """The values to change in the policy in force (as in the policy file's table)."""
    cases: Selection = field(default_factory=Selection)


@dataclass
class Prepared:
    subject: Subject
    in_force: Any
    proposed: Any


def prepare(asked: Asked, policies: Policies) -> Prepared:
    """The subject and both policies; Refused naming the field at fault."""
    subject = SUBJECTS.get(asked.process)
    if subject is None:
        raise Refused("process", f"{asked.process!r} cannot be simulated (it may be "
                                 f"{', '.join(SUBJECTS)})")
    table = subject.process.policy_table
    in_force = subject.policy_in_force(policies)
    try:
        proposed = changed(table, in_force, asked.policy, "policy")
    except PolicyError as error:
        raise Refused("policy", str(error).removeprefix("policy: ")) from None
    return Prepared(subject, in_force, proposed)


Progress = Callable[[int, int], Awaitable[None]]
"""Told the cases done and their total, after each case."""


async def simulate(sessions: db.Sessions, asked: Asked, policies: Policies,
                   progress: Progress | None = None) -> dict[str, Any]:
    """Run it (within the policy's case limit and time limit) and answer what it found."""
    prepared = prepare(asked, policies)
    bounds = policies.simulation
    async with sessions() as session:
        cases = await past_cases(session, prepared.subject, asked.cases, bounds.max_cases)
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
    policy_type = prepared.subject.process.policy_type
    shown: Any = TypeAdapter(policy_type).dump_python
    return {"process": asked.process, "changes": asked.policy,
            "policy": {"in_force": shown(prepared.in_force, mode="json"),
                       "proposed": shown(prepared.proposed, mode="json")},
            "summary": report.summary(results), "cases": report.cases(results)}


ASKED = TypeAdapter(Asked)
"""What was asked, to and from the JSON a simulation's row keeps."""
