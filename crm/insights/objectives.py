"""Objectives: what a process or a workflow of your own is for, in numbers — "70 % of high
tickets answered within 2 hours", "half the leads qualified within 10 days" — written as data
in the policy file (a process's) or in the definition (a workflow of your own's).

An objective starts a case's clock at ``start`` (when it was created or enrolled, by default;
or when it first entered a status or step) and stops it when the case first reaches
``reach`` (a status, a step, or a moment the process keeps: a ticket's first response, an
enrolment's end or its goal reached); ``share`` of the cases should do so ``within`` that
long; ``where`` narrows a process's cases to one value of a dimension (a ticket's priority).
The counting: :mod:`crm.insights.attainment`.

(A definition's ``goal`` is something else: the condition on which an enrolment ends early.
That an enrolment reached it can be an objective's ``reach``: ``goal_reached``.)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pydantic import ConfigDict

from crm.insights.processes import FOLLOWED, Followed
from workflows.own.definition import DefinitionError, duration
from workflows.own.validation import Problem
from workflows.support_types import PRIORITIES

CREATED, ENROLLED = "created", "enrolled"
ENDED, GOAL_REACHED = "ended", "goal_reached"
"""What an enrolment may reach besides its steps: its end, or its end by its goal."""
VALUES = {("support_ticket", "priority"): PRIORITIES}
"""The values a dimension may take, where they are a known list."""


@dataclass(frozen=True)
class Objective:
    name: str
    reach: str
    """The status, step or moment that stops the clock."""
    within: timedelta
    share: float
    """The share of the cases that should reach it in time: more than 0, at most 1."""
    start: str = CREATED
    """What starts the clock: created (enrolled, for a workflow of your own), a status or a
    step first entered."""
    where: dict[str, str] = field(default_factory=dict)

    __pydantic_config__ = ConfigDict(extra="forbid")

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("an objective needs a name")
        if not 0 < self.share <= 1:
            raise ValueError(f"objective {self.name!r}: share is more than 0 and at most 1 "
                             f"(0.7 for 70 %)")
        if self.within <= timedelta(0):
            raise ValueError(f"objective {self.name!r}: within must be a positive duration")

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "start": self.start, "reach": self.reach,
                "within_hours": round(self.within.total_seconds() / 3600, 2),
                "share": self.share, "where": dict(self.where)}


@dataclass
class ObjectivesPolicy:
    """Each process's objectives (``[[objectives.support_ticket]]`` in the policy file),
    checked against what the process has: ``policies.objectives.support_ticket``."""

    lead_to_sale: list[Objective] = field(default_factory=list)
    quote_approval: list[Objective] = field(default_factory=list)
    sale_to_project: list[Objective] = field(default_factory=list)
    support_ticket: list[Objective] = field(default_factory=list)
    invoice_dunning: list[Objective] = field(default_factory=list)

    def __post_init__(self) -> None:
        for process in dataclasses.fields(self):
            for n, objective in enumerate(getattr(self, process.name)):
                problem = _process_problem(FOLLOWED[process.name], objective)
                if problem:
                    raise ValueError(f"{process.name}[{n}] ({objective.name}): {problem}")


def _process_problem(followed: Followed, objective: Objective) -> str | None:
    statuses, moments = followed.statuses, list(followed.moments)
    if objective.start not in (CREATED, *statuses, *moments):
        return (f"start {objective.start!r} is not one of {followed.process}'s statuses or "
                f"moments: {', '.join((CREATED, *statuses, *moments))}")
    if objective.reach not in (*statuses, *moments):
        return (f"reach {objective.reach!r} is not one of {followed.process}'s statuses or "
                f"moments: {', '.join((*statuses, *moments))}")
    for dimension, value in objective.where.items():
        if dimension not in followed.dimensions:
            known = ", ".join(followed.dimensions) or "none"
            return f"where {dimension!r} is not a dimension of {followed.process} ({known})"
        allowed = VALUES.get((followed.process, dimension))
        if allowed and value not in allowed:
            return f"where {dimension} = {value!r} is not one of {', '.join(allowed)}"
    return None


def of_definition(body: dict[str, Any]) -> list[Objective]:
    """A definition version's objectives (checked when it was saved)."""
    return [Objective(name=raw["name"], reach=raw["reach"], within=duration(raw["within"], ""),
                      share=float(raw["share"]), start=raw.get("start", ENROLLED))
            for raw in body.get("objectives") or []]


def definition_problems(data: dict[str, Any]) -> list[Problem]:
    """What is wrong with a definition's objectives (its shape already checked by the
    schema), each naming its place: ``objectives[0].reach``."""
    steps = [step["id"] for step in data.get("steps", [])]
    found = []
    for n, raw in enumerate(data.get("objectives") or []):
        place = f"objectives[{n}]"
        start, reach = raw.get("start", ENROLLED), raw["reach"]
        if start not in (ENROLLED, *steps):
            found.append(Problem(None, f"{place}.start: {start!r} is not enrolled or one of "
                                       f"the steps ({', '.join(steps)})"))
        if reach not in (*steps, ENDED, GOAL_REACHED):
            found.append(Problem(None, f"{place}.reach: {reach!r} is not one of the steps "
                                       f"({', '.join(steps)}), {ENDED} or {GOAL_REACHED}"))
        try:
            of_definition({"objectives": [raw]})
        except (ValueError, DefinitionError) as error:
            found.append(Problem(None, f"{place}: {error}"))
    return found
