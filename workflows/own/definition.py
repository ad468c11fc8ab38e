"""A workflow definition of your own: an object, a trigger, a sequence of steps, a goal and
roles — data, read from YAML or JSON, checked before it is published.

    name: New enterprise lead in France
    object: lead
    trigger: {when: created, condition: 'lead.country == "FR" and lead.budget > 10000'}
    goal: {condition: 'lead.status == "qualified"'}
    templates:
      welcome: {subject: "Welcome, {lead.name}", body: "Hello {lead.name}, …"}
    steps:
      - {id: welcome, send_email: {template: welcome}}
      - {id: pause, wait: {for: 2d, calendar: office}}
      - {id: call, task: {title: "Call {lead.name}", assign: least_loaded, due: 1d}}
      - {id: end, end: {outcome: handed to sales}}

Steps run in order; ``next`` (and a branch's ``then``/``else``, a wait's ``on_timeout``, a
``go_to``'s ``step``) jump elsewhere. :func:`read` turns the data into a :class:`Definition`,
:func:`problems` lists what would stop it from running, each naming its step.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from workflows.own import expressions

STEP_KINDS = ("send_email", "wait", "wait_for", "branch", "task", "approval", "notify", "webhook",
              "set_status", "set_field", "start_process", "go_to", "end")
WAITING_KINDS = ("wait", "wait_for", "approval")
"""A loop must pass through one of these: a feedback loop waits, it never spins."""
TRIGGERS = ("manual", "created", "status", "field_set", "event", "schedule")
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
"""The days a scheduled trigger may run on (every day when it names none)."""
_AT = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
ASSIGNMENTS = ("owner", "round_robin", "least_loaded", "manager")
RECIPIENTS = ("owner", "manager")
TIMEOUT_RULES = ("approve", "reject", "escalate")
"""What an approval nobody decided in time becomes: approved or rejected by rule, or asked of
the admins for another timeout (then rejected)."""
PROCESSES = ("support_ticket",)
"""The built-in processes a ``start_process`` step may start: a support ticket opened for
the object's person."""
ANSWER_TYPES = ("text", "number", "flag")
"""What a webhook's answer field may be read as (``answer: {score: number}``)."""
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([mhdw])$")
_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*)\}")
STEP_ID = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class DefinitionError(ValueError):
    """A definition that cannot be read at all (its shape); ``where`` names the place."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where, self.message = where, message


@dataclass
class Template:
    subject: str
    body: str


@dataclass
class Trigger:
    when: str = "manual"
    status: str | None = None
    event: str | None = None
    condition: str | None = None
    field: str | None = None
    """A ``field_set`` trigger's field: it enrols when that field changes."""
    days: list[str] | None = None
    """A scheduled trigger's days (:data:`DAYS`; every day when None)."""
    at: str | None = None
    """A scheduled trigger's time of day, ``09:00``, in its calendar's time zone."""
    calendar: str | None = None
    """The named calendar whose time zone a schedule keeps (the policy's ``office`` when
    None)."""

    def time_of_day(self) -> tuple[int, int] | None:
        """``at`` as (hour, minute); None when it is not a time of day."""
        match = _AT.match(self.at or "")
        return (int(match.group(1)), int(match.group(2))) if match else None


@dataclass
class Goal:
    condition: str | None = None
    event: str | None = None


@dataclass
class Roles:
    enrol: list[str] = field(default_factory=lambda: ["admin", "sales_manager"])
    act: list[str] = field(default_factory=list)
    """Who may act on the human steps besides the person a task is for (empty: nobody)."""
    edit: list[str] = field(default_factory=lambda: ["admin", "sales_manager", "support_lead"])
    """Who may edit and publish: by default every role the API lets write definitions."""


@dataclass
class Step:
    """One step; which fields matter depends on ``kind``."""

    id: str
    kind: str
    next: str | None = None
    template: str | None = None
    to: str | None = None
    duration: timedelta | None = None
    calendar: str | None = None
    until: str | None = None
    event: str | None = None
    condition: str | None = None
    timeout: timedelta | None = None
    on_timeout: str | None = None
    then: str | None = None
    otherwise: str | None = None
    title: str | None = None
    assign: str | None = None
    role: str | None = None
    due: timedelta | None = None
    remind_every: timedelta | None = None
    target: str | None = None
    times: int | None = None
    outcome: str | None = None
    timeout_rule: str | None = None
    """An approval's ``on_timeout``: one of :data:`TIMEOUT_RULES`."""
    on_reject: str | None = None
    """Where a rejected approval goes (without it, a rejection ends the enrolment)."""
    status: str | None = None
    """A ``set_status`` step's status, asked of the object's own process."""
    reason: str | None = None
    on_refused: str | None = None
    """Where a ``set_status``/``set_field``/``start_process`` step the CRM or the object's
    process refuses goes (without it, the refusal ends the enrolment, saying why)."""
    field_name: str | None = None
    value: Any = None
    process: str | None = None
    subject: str | None = None
    body: str | None = None
    category: str | None = None
    priority: str | None = None
    url: str | None = None
    answer: dict[str, str] | None = None
    """A webhook's answer fields and their types; read as ``<step id>.<field>``, with
    ``<step id>.status`` (the HTTP status, 0 when no answer came). An approval answers
    ``<step id>.approved``, ``.by_rule`` (nobody decided in time) and ``.comment``; a
    ``start_process`` step ``<step id>.ticket_id``."""

    def answers(self) -> dict[str, str]:
        """The names a webhook or an approval step gives to later steps' expressions, with
        their types."""
        if self.kind == "approval":
            return {f"{self.id}.approved": "flag", f"{self.id}.by_rule": "flag",
                    f"{self.id}.comment": "text"}
        if self.kind == "start_process":
            return {f"{self.id}.ticket_id": "number"}
        if self.kind != "webhook":
            return {}
        return {f"{self.id}.status": "number",
                **{f"{self.id}.{name}": kind for name, kind in (self.answer or {}).items()}}

    def exits(self, following: str | None) -> list[str]:
        """The steps this one may go on to (``following``: the one after it in the list)."""
        if self.kind == "end":
            return []
        if self.kind == "branch":
            return [s for s in (self.then, self.otherwise or self.next or following) if s]
        if self.kind == "go_to":
            return [s for s in (self.target, self.next or following) if s]
        onward = self.next or following
        exits = [onward] if onward else []
        if self.kind == "wait_for" and self.on_timeout:
            exits.append(self.on_timeout)
        if self.kind == "approval" and self.on_reject:
            exits.append(self.on_reject)
        if self.on_refused:
            exits.append(self.on_refused)
        return exits


@dataclass
class Definition:
    name: str
    object: str
    steps: list[Step]
    trigger: Trigger = field(default_factory=Trigger)
    goal: Goal | None = None
    roles: Roles = field(default_factory=Roles)
    templates: dict[str, Template] = field(default_factory=dict)
    re_enrol: bool = False
    description: str = ""

    def step(self, step_id: str) -> Step:
        return next(s for s in self.steps if s.id == step_id)

    def following(self, index: int) -> str | None:
        return self.steps[index + 1].id if index + 1 < len(self.steps) else None

    def answers(self) -> dict[str, str]:
        """Every webhook answer field the steps may read, with its type."""
        return {name: kind for step in self.steps for name, kind in step.answers().items()}

    def edges(self) -> Iterator[tuple[Step, str]]:
        for index, step in enumerate(self.steps):
            for target in step.exits(self.following(index)):
                yield step, target


def duration(text: Any, where: str) -> timedelta:
    """``90m``, ``5h``, ``2d``, ``1w``."""
    match = _DURATION.match(str(text).strip())
    if not match:
        raise DefinitionError(where, f"{text!r} is not a duration (write 90m, 5h, 2d or 1w)")
    return expressions.UNITS[match.group(2)] * float(match.group(1))


def placeholders(text: str) -> list[str]:
    """The ``{lead.name}`` fields a text shows."""
    return _PLACEHOLDER.findall(text)


def fill(text: str, values: Mapping[str, Any]) -> str:
    """The text with each ``{object.field}`` replaced by the field's value ('' when unset)."""
    def value(match: re.Match[str]) -> str:
        found = values.get(match.group(1))
        return "" if found is None else _shown(found)
    return _PLACEHOLDER.sub(value, text)


def _shown(value: Any) -> str:
    if hasattr(value, "normalize"):
        return f"{value.normalize():f}"
    return str(value)


# Reading a definition from its data (already checked against the JSON Schema, so shapes are
# mostly right; what the schema cannot say is said here, naming the place).

_STEP_FIELDS: dict[str, dict[str, str]] = {
    "send_email": {"template": "template", "to": "to"},
    "wait": {"for": "duration", "calendar": "calendar", "until": "until"},
    "wait_for": {"event": "event", "condition": "condition", "timeout": "timeout",
                 "on_timeout": "on_timeout"},
    "branch": {"if": "condition", "then": "then", "else": "otherwise"},
    "task": {"title": "title", "assign": "assign", "role": "role", "due": "due",
             "remind_every": "remind_every"},
    "approval": {"approvers": "role", "template": "template", "timeout": "timeout",
                 "remind_every": "remind_every", "on_timeout": "timeout_rule",
                 "on_reject": "on_reject"},
    "notify": {"to": "to", "template": "template"},
    "webhook": {"url": "url", "answer": "answer"},
    "set_status": {"status": "status", "reason": "reason", "on_refused": "on_refused"},
    "set_field": {"field": "field_name", "value": "value", "on_refused": "on_refused"},
    "start_process": {"process": "process", "subject": "subject", "body": "body",
                      "category": "category", "priority": "priority",
                      "on_refused": "on_refused"},
    "go_to": {"step": "target", "times": "times"},
    "end": {"outcome": "outcome"},
}
_DURATIONS = {"duration", "timeout", "due", "remind_every"}


def read(data: Mapping[str, Any]) -> Definition:
    """The definition in ``data`` (a YAML or JSON document); DefinitionError names where it
    cannot be read."""
    if not isinstance(data, Mapping):
        raise DefinitionError("definition", "must be a mapping of name, object, steps…")
    steps = data.get("steps")
    if not isinstance(steps, list) or not steps:
        raise DefinitionError("steps", "a definition needs a list of steps")
    trigger = dict(data.get("trigger") or {})
    goal = data.get("goal")
    roles = data.get("roles") or {}
    return Definition(
        name=str(data.get("name", "")).strip(),
        object=str(data.get("object", "")),
        description=str(data.get("description", "")),
        steps=[_step(raw, index) for index, raw in enumerate(steps)],
        trigger=Trigger(when=str(trigger.get("when", "manual")), status=trigger.get("status"),
                        event=trigger.get("event"), condition=trigger.get("condition"),
                        field=trigger.get("field"), days=trigger.get("days"), at=trigger.get("at"),
                        calendar=trigger.get("calendar")),
        goal=Goal(goal.get("condition"), goal.get("event")) if goal else None,
        roles=Roles(**{k: list(v) for k, v in roles.items()}),
        templates={name: Template(str(t.get("subject", "")), str(t.get("body", "")))
                   for name, t in (data.get("templates") or {}).items()},
        re_enrol=bool(data.get("re_enrol", False)),
    )


def _step(raw: Any, index: int) -> Step:
    where = f"steps[{index}]"
    if not isinstance(raw, Mapping) or "id" not in raw:
        raise DefinitionError(where, "each step has an id and one kind, e.g. "
                                     "{id: welcome, send_email: {template: welcome}}")
    where = f"step {raw['id']!r}"
    kinds = [k for k in raw if k in STEP_KINDS]
    if len(kinds) != 1:
        raise DefinitionError(where, f"a step has exactly one kind among "
                                     f"{', '.join(STEP_KINDS)}")
    kind = kinds[0]
    unknown = set(raw) - {"id", "next", kind}
    if unknown:
        raise DefinitionError(where, f"unknown key {sorted(unknown)[0]!r}")
    step = Step(id=str(raw["id"]), kind=kind, next=raw.get("next"))
    body = raw[kind] or {}
    if not isinstance(body, Mapping):
        raise DefinitionError(where, f"{kind} takes a mapping")
    for key, value in body.items():
        attribute = _STEP_FIELDS[kind].get(key)
        if attribute is None:
            raise DefinitionError(where, f"{kind} has no {key!r} (it takes "
                                         f"{', '.join(_STEP_FIELDS[kind])})")
        if attribute in _DURATIONS:
            value = duration(value, f"{where}: {kind}.{key}")
        setattr(step, attribute, value)
    return step
