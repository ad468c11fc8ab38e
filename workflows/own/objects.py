"""What your own workflows can follow: the CRM objects, their fields (with the type the
expression language reads them as) and who stands for them (the email a step writes to,
the owner and team a task goes to).

Pure data: the workflow reads a field list to convert what the CRM answers, the API reads it
to check a definition before it is published, the activities to read an object's fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ObjectKind:
    name: str
    fields: dict[str, str]
    """Field name to type (``text number date datetime flag``)."""
    email: str | None
    """The field holding the address a ``send_email`` step writes to (the object's person)."""
    owner: str | None
    """The field holding the user who owns it: a task for ``owner`` goes there."""
    team: str | None
    """The field holding its team: round-robin and least-loaded choose in it."""
    label: str
    """The field that names it in a summary (``Lead Jane Doe``)."""
    statuses_set: tuple[str, ...] = ()
    """The statuses a ``set_status`` step may ask the object's own process for (the process
    decides: it refuses what its rules do not allow at that moment)."""
    settable: dict[str, int | None] = field(default_factory=dict)
    """The fields a ``set_field`` step may write, with the longest text each holds (None:
    no limit, or a number). The others are the processes' own (status, owner, amounts…)."""


_TIMESTAMPS = {"created_at": "datetime"}

OBJECTS: dict[str, ObjectKind] = {
    kind.name: kind for kind in (
        ObjectKind("lead", {"id": "number", "name": "text", "email": "text", "company": "text",
                            "country": "text", "source": "text", "status": "text",
                            "budget": "number", "need": "text", "owner_id": "number",
                            "team_id": "number", "unsubscribed": "flag", **_TIMESTAMPS},
                   email="email", owner="owner_id", team="team_id", label="name",
                   statuses_set=("qualified", "disqualified"),
                   settable={"need": None, "budget": None, "company": 200}),
        ObjectKind("account", {"id": "number", "name": "text", "billing_email": "text",
                               "owner_id": "number", "team_id": "number", **_TIMESTAMPS},
                   email="billing_email", owner="owner_id", team="team_id", label="name"),
        ObjectKind("quote", {"id": "number", "status": "text", "discount_pct": "number",
                             "currency": "text", "valid_until": "datetime",
                             "author_id": "number", "team_id": "number", **_TIMESTAMPS},
                   email=None, owner="author_id", team="team_id", label="id"),
        ObjectKind("invoice", {"id": "number", "number": "text", "status": "text",
                               "amount": "number", "currency": "text", "issued_on": "date",
                               "due_on": "date", "level_reached": "number", **_TIMESTAMPS},
                   email=None, owner="issued_by_id", team=None, label="number",
                   statuses_set=("written_off",)),
        ObjectKind("ticket", {"id": "number", "subject": "text", "category": "text",
                              "priority": "text", "channel": "text", "status": "text",
                              "requester_email": "text", "assignee_id": "number",
                              "rating": "number", "reopenings": "number", **_TIMESTAMPS},
                   email="requester_email", owner="assignee_id", team=None, label="subject",
                   statuses_set=("resolved",)),
        ObjectKind("project", {"id": "number", "name": "text", "status": "text",
                               "manager_id": "number", **_TIMESTAMPS},
                   email=None, owner="manager_id", team=None, label="name",
                   statuses_set=("cancelled",)),
    )
}
