"""What an enrolment in a workflow of your own asks of the outside world, and what it is
started with. The activities are in ``activities/own.py``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from workflows.business_time import Calendar
from workflows.own.definition import Definition
from workflows.own.objects import OBJECTS

READ_OBJECT = "read_object"
"""The object's fields as the CRM has them now (a read: a local activity)."""
FIND_PERSON = "find_person"
"""Who a step is for: the object's owner, its team's manager, or one chosen in its team."""
RECORD_ENROLMENT = "record_enrolment"
"""Where the enrolment stands: the step it entered, or how it ended."""
ENROL_SCHEDULED = "enrol_scheduled"
"""A scheduled trigger's run: enrol the objects that meet the definition's condition now."""
TASK_OPEN = "task_open"
"""Whether a task a step made is still open (a read: before each of its reminders)."""
CALL_WEBHOOK = "call_webhook"
"""POST the object to an allowed webhook, signed; its status and declared answer fields."""
WEBHOOK_REFUSED = "WebhookRefused"
"""The error of a webhook call that is never tried again: a host not allowed, an address on
a private network, no signing secret, an answer 4xx."""
SET_STATUS = "set_status"
"""Ask the object's own process for a status (its update, on the word of the version's
publisher); done, or the process's refusal."""
SET_FIELD = "set_field"
"""Write a field a step may set; the workflows its change triggers are enrolled."""
OPEN_TICKET = "open_ticket"
"""Open a support ticket for the object's person and start its process (once per step and
visit)."""
OWN_MESSAGE = "own_message"
"""The email template that carries a definition's own subject and body."""


def workflow_id(definition_id: int, object_type: str, object_id: int) -> str:
    return f"definition-{definition_id}-{object_type}-{object_id}"


def schedule_id(definition_id: int) -> str:
    """The Temporal Schedule of a definition with a scheduled trigger."""
    return f"definition-{definition_id}-schedule"


@dataclass
class EnrolmentInput:
    enrolment_id: int
    definition_id: int
    version: int
    definition: Definition
    """The published version it was enrolled in, carried whole: the run keeps it to the end,
    whatever is published later."""
    object_type: str
    object_id: int
    calendars: dict[str, Calendar] = field(default_factory=dict)
    """The policy's calendars, with their holidays (computed outside the workflow)."""
    enrolled_by: int | None = None


def webhook_host_allowed(url: str, allowed: frozenset[str]) -> bool:
    """Whether an http(s) URL's host is on the allow-list, as ``host`` or ``host:port``
    (the scheme's port when the URL names none): what a definition is checked against when
    saved, and each call again when made."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return False
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return bool({parts.hostname, f"{parts.hostname}:{port}"} & allowed)


@dataclass
class WebhookCall:
    url: str
    delivery: str
    """The same on every attempt (``<workflow id>:<step>:<visit>``): the receiver's key to
    take a retried call once."""
    definition: str
    step: str
    object_type: str
    object_id: int
    answer: dict[str, str] = field(default_factory=dict)


@dataclass
class WebhookAnswer:
    status: int
    fields: dict[str, Any] = field(default_factory=dict)
    """The declared answer fields found in the JSON answer, as JSON has them."""


def answered(step: str, answer: WebhookAnswer, kinds: dict[str, str]) -> dict[str, Any]:
    """The answer as the expression language reads it: ``step.status``, ``step.field``
    (a value of another type than declared reads as missing)."""
    values: dict[str, Any] = {f"{step}.status": Decimal(answer.status)}
    for name, kind in kinds.items():
        raw = answer.fields.get(name)
        if kind == "number" and isinstance(raw, int | float) and not isinstance(raw, bool):
            raw = Decimal(str(raw))
        elif not ((kind == "text" and isinstance(raw, str))
                  or (kind == "flag" and isinstance(raw, bool))):
            raw = None
        values[f"{step}.{name}"] = raw
    return values


@dataclass
class ObjectToRead:
    object_type: str
    object_id: int


@dataclass
class ObjectFields:
    values: dict[str, Any]
    """Field name to value as JSON has it (dates as ISO text); :func:`typed` reads them."""


def typed(object_type: str, fields: ObjectFields) -> dict[str, Any]:
    """The fields as the expression language compares them, keyed ``lead.budget``."""
    kinds = OBJECTS[object_type].fields
    values: dict[str, Any] = {}
    for name, kind in kinds.items():
        raw = fields.values.get(name)
        if raw is not None and kind == "number":
            raw = Decimal(str(raw))
        elif isinstance(raw, str) and kind == "date":
            raw = date.fromisoformat(raw[:10])
        elif isinstance(raw, str) and kind == "datetime":
            raw = datetime.fromisoformat(raw)
        values[f"{object_type}.{name}"] = raw
    return values


@dataclass
class PersonToFind:
    object_type: str
    object_id: int
    rule: str
    """``owner``, ``manager``, ``round_robin`` or ``least_loaded``."""
    role: str | None = None
    """For the two rules that choose in the object's team: among people with this role."""


@dataclass
class EnrolmentProgress:
    enrolment_id: int
    step: str | None
    """The step entered, or the last one when the enrolment ends."""
    visit: int
    status: str = "running"
    """``running``, or how it ended: ``completed``, ``goal_reached``, ``cancelled``."""
    note: str = ""


@dataclass
class StatusToSet:
    enrolment_id: int
    object_type: str
    object_id: int
    status: str
    reason: str
    decision: str
    """The update's id (``<workflow id>:<step>:<visit>``): a retried activity never asks
    twice."""


@dataclass
class FieldToSet:
    enrolment_id: int
    object_type: str
    object_id: int
    field: str
    value: Any


@dataclass
class TicketToOpen:
    enrolment_id: int
    object_type: str
    object_id: int
    subject: str
    body: str
    category: str
    priority: str
    opening: str
    """The same on every attempt (``<workflow id>:<step>:<visit>``): one ticket per step and
    visit, however often the activity runs."""


@dataclass
class StepDone:
    """What a CRM step led to: done, or refused (by the object's process or the CRM), with
    the note the enrolment's history keeps either way."""

    done: bool
    note: str
    ticket_id: int | None = None
