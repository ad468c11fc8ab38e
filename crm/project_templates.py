"""Project templates: how a sale becomes a project — its milestones (due dates as offsets
from the start, owners by role, billable shares of the sale), its tasks (by role, with
offsets), the roles filled by people, and the invoicing schedule.

Templates are data in the CRM (``project_templates``, managed by admins through
``/project-templates``); a sale takes the template of its product line, else the one the
``[project]`` policy names as ``default_template``, else the built-in one below. A project
is set up from its template once, when it starts: changing a template changes the projects
started afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter

from workflows.project_types import ACCOUNT_OWNER, PROJECT_MANAGER
from workflows.roles import Role

GIVEN_ROLES = (ACCOUNT_OWNER, PROJECT_MANAGER)
"""Filled on every project: the sale's rep, and the manager chosen for it."""
MAY_FILL = tuple(role.value for role in Role if role != Role.INTEGRATION)
"""The CRM roles a template's member role may be filled from."""


@dataclass
class MemberRole:
    """A role on the project filled by a CRM user of ``crm_role`` (the sale's team first)."""

    role: str
    crm_role: str


@dataclass
class MilestonePlan:
    name: str
    due_after_days: int
    """From the project's start."""
    billable_pct: Decimal = Decimal(0)
    """Its share of the sale's amount; the billable shares add up to 100."""
    owner_role: str = PROJECT_MANAGER


@dataclass
class TaskPlan:
    title: str
    role: str
    due_after_days: int


@dataclass
class InstalmentPlan:
    """An invoice of the schedule (invoicing ``schedule``): its share, on its day."""

    label: str
    invoice_after_days: int
    share_pct: Decimal


@dataclass
class ProjectTemplate:
    name: str
    milestones: list[MilestonePlan]
    product_line: str | None = None
    hourly_cost: Decimal = Decimal("80.00")
    """What an hour on the project's timesheets costs."""
    members: list[MemberRole] = field(default_factory=list)
    tasks: list[TaskPlan] = field(default_factory=list)
    schedule: list[InstalmentPlan] = field(default_factory=list)
    """Without one, schedule invoicing invoices the billable milestones' shares on their due
    dates."""


BUILT_IN = ProjectTemplate(
    name="standard",
    members=[MemberRole("billing", Role.ACCOUNTANT.value)],
    milestones=[
        MilestonePlan("Kick-off workshop", 7, Decimal(20)),
        MilestonePlan("Configuration", 30, Decimal(30)),
        MilestonePlan("Training", 45, Decimal(20), owner_role=ACCOUNT_OWNER),
        MilestonePlan("Go-live", 60, Decimal(30)),
    ],
    tasks=[
        TaskPlan("Schedule the kick-off workshop with the customer", PROJECT_MANAGER, 2),
        TaskPlan("Send the customer the onboarding pack", ACCOUNT_OWNER, 3),
        TaskPlan("Set up the customer's invoicing", "billing", 5),
    ],
)
"""The template of last resort: a four-step rollout over two months."""

ADAPTER = TypeAdapter(ProjectTemplate)


def as_json(template: ProjectTemplate) -> dict[str, Any]:
    return ADAPTER.dump_python(template, mode="json")


def from_json(plan: dict[str, Any]) -> ProjectTemplate:
    return ADAPTER.validate_python(plan)


def problems(template: ProjectTemplate) -> list[tuple[str, str]]:
    """What makes the template unusable, each naming its field: shares that do not add up
    to 100 %, roles nobody fills, names used twice."""
    found: list[tuple[str, str]] = []
    member_roles = [m.role for m in template.members]
    for n, member in enumerate(template.members):
        if member.role in GIVEN_ROLES or member_roles.count(member.role) > 1:
            found.append((f"members.{n}.role", f"{member.role} is already a role of the "
                                               f"project; name each role once"))
        if member.crm_role not in MAY_FILL:
            found.append((f"members.{n}.crm_role", f"one of: {', '.join(MAY_FILL)}"))
    roles = set(GIVEN_ROLES) | set(member_roles)
    names = [m.name for m in template.milestones]
    for n, milestone in enumerate(template.milestones):
        if names.count(milestone.name) > 1:
            found.append((f"milestones.{n}.name", f"milestone {milestone.name} is named twice"))
        if milestone.owner_role not in roles:
            found.append((f"milestones.{n}.owner_role", _unknown(milestone.owner_role, roles)))
    for n, task in enumerate(template.tasks):
        if task.role not in roles:
            found.append((f"tasks.{n}.role", _unknown(task.role, roles)))
    billable = sum((m.billable_pct for m in template.milestones), Decimal(0))
    if billable != 100:
        found.append(("milestones", f"the billable shares must add up to 100 %, not "
                                    f"{billable.normalize():f} %"))
    if template.schedule:
        scheduled = sum((i.share_pct for i in template.schedule), Decimal(0))
        if scheduled != 100:
            found.append(("schedule", f"the instalments' shares must add up to 100 %, not "
                                      f"{scheduled.normalize():f} %"))
    return found


def _unknown(role: str, roles: set[str]) -> str:
    return f"no one has the role {role} on the project; roles: {', '.join(sorted(roles))}"
