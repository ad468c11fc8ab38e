"""A definition from its text or data: the JSON Schema first (its shape), then the checks
of :mod:`workflows.own.validation` (what it names), every problem saying where."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

import jsonschema
import yaml

from crm.insights import objectives
from crm.policies import Policies
from workflows.business_time import Calendar
from workflows.lead_to_sale import TRANSITIONS as LEAD_TRANSITIONS
from workflows.own.definition import STEP_KINDS, Definition, DefinitionError, read
from workflows.own.validation import Catalogue, Problem, problems
from workflows.roles import Role

MAX_TEXT = 200_000
"""The largest definition accepted, in characters."""
EVENTS = {"lead": frozenset({"content_downloaded", "demo_requested", "unsubscribed",
                             "marketing_response"})}
"""The events that reach an object's enrolments, as its paths deliver them."""
CARRYING_DOCUMENTS = frozenset({"quote", "project", "invoice", "ticket"})
"""The objects that carry files (``api/routers/files.py``): a file of a kind attached to one
is the event ``document:<kind>`` to its enrolments."""


@functools.cache
def schema() -> dict[str, Any]:
    """The published JSON Schema of a definition (``GET /workflow-definitions/schema``)."""
    text = resources.files("crm.own").joinpath("definition.schema.json").read_text()
    found: dict[str, Any] = json.loads(text)
    return found


def predefined() -> dict[str, str]:
    """The definitions crmflow ships (``crm/own/predefined/*.yaml``), by name, as text: the
    source articles' examples, to start a workflow of your own from."""
    folder = resources.files("crm.own").joinpath("predefined")
    return {entry.name.removesuffix(".yaml"): entry.read_text(encoding="utf-8")
            for entry in sorted(folder.iterdir(), key=lambda e: e.name)
            if entry.name.endswith(".yaml")}


@dataclass
class Invalid(Exception):
    """A definition that may not be saved or published: every problem, each naming its
    step (or the place in the document)."""

    problems: list[Problem]

    def __str__(self) -> str:
        return "; ".join(str(p) for p in self.problems)


def parse_text(text: str) -> dict[str, Any]:
    """The document in a YAML or JSON text (JSON is YAML)."""
    if len(text) > MAX_TEXT:
        raise Invalid([Problem(None, f"a definition is at most {MAX_TEXT} characters")])
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise Invalid([Problem(None, f"not YAML or JSON: {error}")]) from None
    if not isinstance(data, dict):
        raise Invalid([Problem(None, "a definition is a mapping of name, object, steps…")])
    return data


def shape_problems(data: Any) -> list[Problem]:
    """What the JSON Schema refuses, each at its place (``steps[2].task.due``)."""
    validator = jsonschema.Draft202012Validator(schema())
    found = []
    for error in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
        path = list(error.absolute_path)
        step = None
        if len(path) >= 2 and path[0] == "steps" and isinstance(path[1], int):
            raw = data["steps"][path[1]]
            step = raw.get("id") if isinstance(raw, dict) else None
        for closest in _closest(error):
            where = ".".join(str(p) for p in closest.absolute_path) or "definition"
            found.append(Problem(step, f"{where}: {_message(closest)}"))
    return found


def _closest(error: jsonschema.ValidationError) -> list[jsonschema.ValidationError]:
    """For a step matching no kind, the errors of the kind it names (its settings)."""
    if error.validator == "oneOf" and isinstance(error.instance, dict):
        kinds = [k for k in error.instance if k not in ("id", "next")]
        named = [c for c in error.context or []
                 if len(kinds) == 1 and kinds[0] in c.absolute_path]
        if named:
            return [e for c in named for e in _closest(c)]
    return [error]


def _message(error: jsonschema.ValidationError) -> str:
    if error.validator == "oneOf":
        return (f"a step has an id and exactly one kind: {', '.join(STEP_KINDS[:-1])} or "
                f"{STEP_KINDS[-1]}, with its settings")
    if error.validator == "pattern" and "[mhdw]" in str(error.validator_value):
        return f"{error.instance!r} is not a duration (write 90m, 5h, 2d or 1w)"
    if error.validator == "pattern" and "[0-5]" in str(error.validator_value):
        return f"{error.instance!r} is not a time of day (write 09:00)"
    return error.message


def catalogue(policies: Policies) -> Catalogue:
    """What a definition may name under the policies in force."""
    policy = policies.own_workflows
    lead_statuses = {*LEAD_TRANSITIONS, *(s for t in LEAD_TRANSITIONS.values() for s in t)}
    return Catalogue(
        roles=frozenset(r.value for r in Role if r is not Role.INTEGRATION),
        calendars=frozenset(policy.calendars),
        statuses={"lead": frozenset(lead_statuses)},
        longest_wait=policy.longest_wait,
        max_steps=policy.max_steps,
        max_loops=policy.max_loops,
        events=dict(EVENTS),
        webhook_hosts=frozenset(policy.webhook_hosts),
        ticket_categories=frozenset(policies.support.categories),
        carrying_documents=CARRYING_DOCUMENTS,
    )


def definition(data: Any, policies: Policies) -> Definition:
    """The definition in ``data``, checked; Invalid with every problem found."""
    found = shape_problems(data)
    if found:
        raise Invalid(found)
    try:
        parsed = read(data)
    except DefinitionError as error:
        raise Invalid([Problem(None, str(error))]) from None
    found = problems(parsed, catalogue(policies)) + objectives.definition_problems(data)
    if found:
        raise Invalid(found)
    return parsed


def calendars(policies: Policies, year: int) -> dict[str, Calendar]:
    """The policy's named calendars with their holidays, for an enrolment starting in
    ``year`` (that year's and the next's)."""
    from datetime import date

    from crm.support import calendar_for

    return {name: calendar_for(cal, date(year, 1, 1))
            for name, cal in policies.own_workflows.calendars.items()}
