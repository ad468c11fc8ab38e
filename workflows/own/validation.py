"""What would stop a definition from running as its author means it, each problem naming its
step: checked when a draft is saved and again before it is published."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

from workflows.own import expressions
from workflows.own.contracts import webhook_host_allowed
from workflows.own.definition import (
    ANSWER_TYPES,
    ASSIGNMENTS,
    DAYS,
    PROCESSES,
    RECIPIENTS,
    STEP_ID,
    STEP_KINDS,
    TIMEOUT_RULES,
    TRIGGERS,
    WAITING_KINDS,
    Definition,
    Step,
    Trigger,
    placeholders,
)
from workflows.own.objects import OBJECTS
from workflows.steps import describe
from workflows.support_types import CATEGORIES, PRIORITIES


@dataclass(frozen=True)
class Problem:
    step: str | None
    """The step's id, or None for the definition as a whole."""
    message: str

    def __str__(self) -> str:
        return f"step {self.step!r}: {self.message}" if self.step else self.message


DOCUMENT = "document:"
"""The event of a file of a kind attached to the object: ``document:proof_of_address``."""
_DOCUMENT_KIND = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@dataclass(frozen=True)
class Catalogue:
    """What a definition may name, from the CRM and the policy in force."""

    roles: frozenset[str]
    calendars: frozenset[str]
    statuses: dict[str, frozenset[str]]
    """Each object's statuses (its built-in process's)."""
    longest_wait: timedelta = timedelta(days=365)
    max_steps: int = 50
    max_loops: int = 10
    events: dict[str, frozenset[str]] = field(default_factory=dict)
    """The events each object's paths deliver (``content_downloaded``…)."""
    webhook_hosts: frozenset[str] = frozenset()
    """The hosts (``host`` or ``host:port``) an admin allows webhook steps to call."""
    ticket_categories: frozenset[str] = frozenset(CATEGORIES)
    """The support policy's ticket categories (a ``start_process`` step's ticket)."""
    carrying_documents: frozenset[str] = frozenset()
    """The objects that carry files: a ``wait_for`` may wait for ``document:<kind>``, a
    file of that kind attached to the object."""


def problems(definition: Definition, catalogue: Catalogue) -> list[Problem]:
    """Every problem, in the order of the definition; empty when it may be published."""
    return list(_problems(definition, catalogue))


def _problems(d: Definition, c: Catalogue) -> Iterator[Problem]:
    if not d.name:
        yield Problem(None, "name: a definition needs a name")
    kind = OBJECTS.get(d.object)
    if kind is None:
        yield Problem(None, f"object: {d.object!r} is not an object a workflow can follow "
                            f"({', '.join(OBJECTS)})")
        return
    if len(d.steps) > c.max_steps:
        yield Problem(None, f"steps: {len(d.steps)} steps, more than the {c.max_steps} the "
                            f"policy allows")
    yield from _trigger_and_goal(d, c)
    for role in sorted({*d.roles.enrol, *d.roles.act, *d.roles.edit} - c.roles):
        yield Problem(None, f"roles: no role {role!r} (roles: {', '.join(sorted(c.roles))})")
    for name, template in d.templates.items():
        for text in (template.subject, template.body):
            for problem in _fields_shown(d, text):
                yield Problem(None, f"templates.{name}: {problem}")
    ids = [s.id for s in d.steps]
    seen: set[str] = set()
    for step in d.steps:
        if not STEP_ID.match(step.id):
            yield Problem(step.id, "a step id is lowercase letters, digits and _ (at most 40)")
        if step.id in seen:
            yield Problem(step.id, "two steps have this id")
        seen.add(step.id)
        yield from (Problem(step.id, m) for m in _step_problems(d, c, step, set(ids)))
    if seen == set(ids):
        yield from _graph_problems(d)


def _trigger_and_goal(d: Definition, c: Catalogue) -> Iterator[Problem]:
    trigger = d.trigger
    if trigger.when not in TRIGGERS:
        yield Problem(None, f"trigger.when: {trigger.when!r} is not a trigger "
                            f"({', '.join(TRIGGERS)})")
    if trigger.when == "status" and trigger.status not in c.statuses.get(d.object, ()):
        yield Problem(None, f"trigger.status: a {d.object} has no status {trigger.status!r}"
                            f" ({', '.join(sorted(c.statuses.get(d.object, ())))})")
    if trigger.when == "event":
        yield from (Problem(None, f"trigger.event: {m}") for m in _event(d, c, trigger.event))
    if trigger.when == "field_set" and trigger.field not in OBJECTS[d.object].fields:
        yield Problem(None, f"trigger.field: a {d.object} has no field {trigger.field!r} "
                            f"({', '.join(OBJECTS[d.object].fields)})")
    if trigger.when != "field_set" and trigger.field is not None:
        yield Problem(None, "trigger.field: only a field_set trigger names a field")
    if trigger.condition:
        yield from (Problem(None, f"trigger.condition: {m}")
                    for m in _expression(d, trigger.condition))
    yield from (Problem(None, f"trigger.{m}") for m in _schedule(trigger, c))
    if d.goal:
        if not d.goal.condition and not d.goal.event:
            yield Problem(None, "goal: a goal is a condition or an event")
        if d.goal.condition:
            yield from (Problem(None, f"goal.condition: {m}")
                        for m in _expression(d, d.goal.condition))
        if d.goal.event:
            yield from (Problem(None, f"goal.event: {m}") for m in _event(d, c, d.goal.event))


def _step_problems(d: Definition, c: Catalogue, s: Step, ids: set[str]) -> Iterator[str]:
    if s.kind not in STEP_KINDS:
        yield f"no step kind {s.kind!r}"
        return
    for label, target in (("next", s.next), ("then", s.then), ("else", s.otherwise),
                          ("on_timeout", s.on_timeout), ("step", s.target),
                          ("on_reject", s.on_reject), ("on_refused", s.on_refused)):
        if target is not None and target not in ids:
            yield f"{label}: no step {target!r}"
    for label, wait in (("for", s.duration), ("timeout", s.timeout), ("due", s.due),
                        ("remind_every", s.remind_every)):
        if wait is not None and wait > c.longest_wait:
            yield (f"{label}: {describe(wait)} is longer than the longest wait the policy "
                   f"allows ({describe(c.longest_wait)})")
        if wait is not None and wait <= timedelta(0):
            yield f"{label}: a wait is longer than nothing"
    if s.kind in ("send_email", "notify", "approval"):
        if s.template not in d.templates:
            yield (f"template: no template {s.template!r} in this definition"
                   + (f" (it has {', '.join(sorted(d.templates))})" if d.templates else ""))
        if s.kind == "send_email" and s.to not in (None, "object"):
            yield f"to: an email step writes to the {d.object} itself (to: object)"
        if s.kind == "send_email" and OBJECTS[d.object].email is None:
            yield f"a {d.object} has no email address of its own: notify its owner instead"
        if s.kind == "notify" and (s.to or "owner") not in RECIPIENTS:
            yield f"to: {s.to!r} is not a person to notify ({', '.join(RECIPIENTS)})"
    if s.kind == "wait":
        if (s.duration is None) == (s.until is None):
            yield "a wait is for a duration (for: 2d) or until a date field (until: …)"
        if s.calendar is not None and s.calendar not in c.calendars:
            yield (f"calendar: no calendar {s.calendar!r} (calendars: "
                   f"{', '.join(sorted(c.calendars)) or 'none'})")
        if s.until is not None:
            yield from _date_field(d, s.until)
    if s.kind == "wait_for":
        if (s.event is None) == (s.condition is None):
            yield "a wait_for waits for an event or a condition (one of them)"
        if s.timeout is None:
            yield "timeout: a wait_for has a timeout (it never waits forever)"
        if s.event is not None:
            yield from _event(d, c, s.event)
        if s.condition is not None:
            yield from (f"condition: {m}" for m in _expression(d, s.condition))
    if s.kind == "branch":
        if not s.condition:
            yield "if: a branch has a condition"
        else:
            yield from (f"if: {m}" for m in _expression(d, s.condition))
        if not s.then:
            yield "then: a branch names the step to go to when its condition holds"
    if s.kind == "task":
        if not s.title:
            yield "title: a task has a title"
        else:
            yield from (f"title: {m}" for m in _fields_shown(d, s.title))
        if (s.assign or "owner") not in ASSIGNMENTS:
            yield f"assign: {s.assign!r} is not an assignment rule ({', '.join(ASSIGNMENTS)})"
        if s.role is not None and s.role not in c.roles:
            yield f"role: no role {s.role!r}"
        if s.assign in ("round_robin", "least_loaded") and OBJECTS[d.object].team is None:
            yield f"assign: a {d.object} has no team to choose in; assign it to its owner"
    if s.kind == "approval":
        yield from _approval(s, c)
    if s.kind == "webhook":
        yield from _webhook(d, c, s)
    if s.kind == "set_status":
        yield from _set_status(d, s)
    if s.kind == "set_field":
        yield from _set_field(d, s)
    if s.kind == "start_process":
        yield from _start_process(d, c, s)
    if s.kind == "go_to":
        if not s.target:
            yield "step: a go_to names the step it goes back to"
        if not isinstance(s.times, int) or not 1 <= s.times <= c.max_loops:
            yield (f"times: a go_to is bounded: it goes back 1 to {c.max_loops} times "
                   f"(then the next step)")


def _graph_problems(d: Definition) -> Iterator[Problem]:
    edges: dict[str, list[str]] = {s.id: [] for s in d.steps}
    for step, target in d.edges():
        if target in edges:
            edges[step.id].append(target)
    reached, todo = {d.steps[0].id}, [d.steps[0].id]
    while todo:
        for target in edges[todo.pop()]:
            if target not in reached:
                reached.add(target)
                todo.append(target)
    for step in d.steps:
        if step.id not in reached:
            yield Problem(step.id, "no step leads here: it can never run")
    waiting = {s.id for s in d.steps if s.kind in WAITING_KINDS}
    for cycle in _cycles({k: [t for t in v if t not in waiting]
                          for k, v in edges.items() if k not in waiting}):
        yield Problem(cycle[0], f"the loop {' → '.join([*cycle, cycle[0]])} has no wait in "
                                f"it: a feedback loop waits (a wait or wait_for step) before "
                                f"it goes round again")


def _cycles(edges: dict[str, list[str]]) -> Iterator[list[str]]:
    """One cycle per strongly connected group of steps (Tarjan), in the steps' order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in edges.get(node, []):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            groups.append(group)

    for node in edges:
        if node not in index:
            visit(node)
    order = list(edges)
    for group in groups:
        if len(group) > 1 or group[0] in edges.get(group[0], []):
            yield sorted(group, key=order.index)


def _schedule(t: Trigger, c: Catalogue) -> Iterator[str]:
    if t.when != "schedule":
        for key in ("days", "at", "calendar"):
            if getattr(t, key) is not None:
                yield f"{key}: only a scheduled trigger (when: schedule) has {key}"
        return
    if not t.condition:
        yield ("condition: a scheduled trigger enrols the objects that meet its condition: "
               "it needs one")
    if t.at is None:
        yield "at: a scheduled trigger runs at a time of day (at: 09:00)"
    elif t.time_of_day() is None:
        yield f"at: {t.at!r} is not a time of day (write 09:00)"
    for day in t.days or []:
        if day not in DAYS:
            yield f"days: {day!r} is not a day ({', '.join(DAYS)})"
    if (t.calendar or "office") not in c.calendars:
        yield (f"calendar: no calendar {t.calendar or 'office'!r} (calendars: "
               f"{', '.join(sorted(c.calendars)) or 'none'})")


def _not_an_object(s: Step) -> Iterator[str]:
    if s.id in OBJECTS:
        article = "an" if s.kind[0] in "aeiou" else "a"
        yield (f"{article} {s.kind} step is not named after an object ({s.id}.… would be "
               f"ambiguous)")


def _approval(s: Step, c: Catalogue) -> Iterator[str]:
    yield from _not_an_object(s)
    if s.role not in c.roles:
        yield f"approvers: no role {s.role!r} (roles: {', '.join(sorted(c.roles))})"
    if s.timeout is None:
        yield "timeout: an approval has a timeout (the rule decides when nobody did)"
    if (s.timeout_rule or "reject") not in TIMEOUT_RULES:
        yield (f"on_timeout: {s.timeout_rule!r} is not a rule for an approval nobody "
               f"decided ({', '.join(TIMEOUT_RULES)})")
    if s.remind_every is not None and s.timeout is not None and s.remind_every >= s.timeout:
        yield (f"remind_every: a reminder every {describe(s.remind_every)} never comes "
               f"within the {describe(s.timeout)} timeout")


def _webhook(d: Definition, c: Catalogue, s: Step) -> Iterator[str]:
    url = urlsplit(s.url or "")
    if url.scheme not in ("https", "http") or not url.hostname:
        yield "url: a webhook calls an http(s) address, e.g. https://hooks.example.com/lead"
    elif not webhook_host_allowed(s.url or "", c.webhook_hosts):
        yield (f"url: {url.hostname} is not a host an admin allows webhooks to call "
               f"([own_workflows] webhook_hosts: "
               f"{', '.join(sorted(c.webhook_hosts)) or 'none'})")
    yield from _not_an_object(s)
    for name, kind in (s.answer or {}).items():
        if not STEP_ID.match(str(name)) or name == "status":
            yield (f"answer: {name!r} is not a field name for an answer (lowercase letters, "
                   f"digits and _; status is the HTTP status)")
        if kind not in ANSWER_TYPES:
            yield f"answer: {name}: {kind!r} is not a type ({', '.join(ANSWER_TYPES)})"


def _set_status(d: Definition, s: Step) -> Iterator[str]:
    allowed = OBJECTS[d.object].statuses_set
    if not allowed:
        yield (f"status: a {d.object}'s statuses are its process's own: no step sets them")
    elif s.status not in allowed:
        yield (f"status: a step may ask a {d.object}'s process for "
               f"{' or '.join(allowed)}, not {s.status!r}")
    if s.reason is not None:
        yield from (f"reason: {m}" for m in _fields_shown(d, s.reason))


_VALUE_TYPES = {"number": (int, float), "flag": (bool,), "text": (str,)}


def _set_field(d: Definition, s: Step) -> Iterator[str]:
    kind = OBJECTS[d.object]
    if s.field_name not in kind.settable:
        yield (f"field: a step may set a {d.object}'s "
               f"{', '.join(kind.settable) or 'no field'}, not {s.field_name!r}"
               if kind.settable else
               f"field: a {d.object}'s fields are its process's own: no step sets them")
        return
    field_type = kind.fields[s.field_name]
    value = s.value
    if value is None or not isinstance(value, _VALUE_TYPES[field_type]) or (
            field_type == "number" and isinstance(value, bool)):
        yield f"value: {s.field_name} is a {field_type}; {value!r} is not"
        return
    if isinstance(value, str):
        yield from (f"value: {m}" for m in _fields_shown(d, value))
        longest = kind.settable[s.field_name]
        if longest is not None and not placeholders(value) and len(value) > longest:
            yield f"value: {s.field_name} holds at most {longest} characters"


def _start_process(d: Definition, c: Catalogue, s: Step) -> Iterator[str]:
    yield from _not_an_object(s)
    if s.process not in PROCESSES:
        yield (f"process: a step starts {', '.join(PROCESSES)}, not {s.process!r}")
    if OBJECTS[d.object].email is None:
        yield (f"a {d.object} has no person of its own to open a ticket for (it follows "
               f"{', '.join(k for k, o in OBJECTS.items() if o.email)})")
    if not s.subject:
        yield "subject: a ticket has a subject"
    for label, text in (("subject", s.subject), ("body", s.body)):
        yield from (f"{label}: {m}" for m in _fields_shown(d, text or ""))
    if s.category is not None and s.category not in c.ticket_categories:
        yield (f"category: no ticket category {s.category!r} "
               f"({', '.join(sorted(c.ticket_categories))})")
    if s.priority is not None and s.priority not in PRIORITIES:
        yield f"priority: {s.priority!r} is not a priority ({', '.join(PRIORITIES)})"


def _expression(d: Definition, source: str) -> Iterator[str]:
    try:
        expressions.check(source, d.object, OBJECTS[d.object].fields, d.answers())
    except expressions.ExpressionError as error:
        yield str(error)


def _fields_shown(d: Definition, text: str) -> Iterator[str]:
    fields = OBJECTS[d.object].fields
    for name in placeholders(text):
        owner, _, attribute = name.partition(".")
        if owner != d.object or attribute not in fields:
            yield f"{{{name}}}: a {d.object} has no such field"


def _date_field(d: Definition, name: str) -> Iterator[str]:
    owner, _, attribute = name.partition(".")
    kind = OBJECTS[d.object].fields.get(attribute) if owner == d.object else None
    if kind not in ("date", "datetime"):
        yield f"until: {name} is not a date field of a {d.object}"


def _event(d: Definition, c: Catalogue, event: str | None) -> Iterator[str]:
    known = c.events.get(d.object, frozenset())
    kind = (event or "").removeprefix(DOCUMENT) if (event or "").startswith(DOCUMENT) else None
    if kind is not None:
        if d.object not in c.carrying_documents:
            yield f"a {d.object} carries no files: no document reaches it"
        elif not _DOCUMENT_KIND.match(kind):
            yield (f"{event!r}: a document's kind is a word of lowercase letters, digits and "
                   f"_ (document:proof_of_address)")
    elif event not in known:
        yield (f"no event {event!r} reaches a {d.object}"
               + (f" (events: {', '.join(sorted(known))})" if known else ""))
