"""Project templates (admins): how the sales of a product line become projects. A template
is checked as a whole — shares adding up to 100 %, every role filled — and the refusal names
each field at fault. Changing a template changes the projects started afterwards."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, status
from fastapi.exceptions import RequestValidationError
from pydantic import Field

from api.deps import SessionDep
from api.idempotency import OnceDep
from api.inputs import In, SingleLine
from api.lookups import TemplateDep
from crm.models import ProjectTemplate
from crm.project_templates import ADAPTER, BUILT_IN, problems
from crm.project_templates import ProjectTemplate as Template
from crm.repo import projects
from workflows.project_types import PROJECT_MANAGER

router = APIRouter(tags=["projects"])
Name = Annotated[SingleLine, Field(max_length=100)]
RoleName = Annotated[str, Field(pattern=r"^[a-z][a-z_]{0,39}$",
                                description="account_owner, project_manager, or a member role")]
Days = Annotated[int, Field(ge=0, le=3650, description="Days from the project's start")]
Share = Annotated[Decimal, Field(ge=0, le=100, max_digits=5, decimal_places=2)]


class MemberRoleIn(In):
    role: RoleName
    crm_role: str = Field(description="The CRM role of the user who fills it, e.g. accountant")


class MilestoneIn(In):
    name: Annotated[SingleLine, Field(max_length=200)]
    due_after_days: Days
    billable_pct: Share = Decimal(0)
    owner_role: RoleName = PROJECT_MANAGER


class TaskIn(In):
    title: Annotated[SingleLine, Field(max_length=200)]
    role: RoleName
    due_after_days: Days


class InstalmentIn(In):
    label: Annotated[SingleLine, Field(max_length=200)]
    invoice_after_days: Days
    share_pct: Share


class TemplateIn(In):
    name: Name
    product_line: Name | None = None
    hourly_cost: Decimal = Field(Decimal("80.00"), ge=0, max_digits=10, decimal_places=2)
    members: list[MemberRoleIn] = Field(default_factory=list, max_length=20)
    milestones: list[MilestoneIn] = Field(min_length=1, max_length=50)
    tasks: list[TaskIn] = Field(default_factory=list, max_length=100)
    schedule: list[InstalmentIn] = Field(default_factory=list, max_length=50)


class TemplateOut(TemplateIn):
    id: int | None = Field(description="None for the built-in template")
    built_in: bool
    created_at: datetime | None
    updated_at: datetime | None


def _checked(body: TemplateIn) -> Template:
    template = ADAPTER.validate_python(body.model_dump())
    if found := problems(template):
        raise RequestValidationError([{"loc": ("body", *field.split(".")), "msg": message,
                                       "type": "value_error"} for field, message in found])
    return template


def _out(row: ProjectTemplate) -> TemplateOut:
    return TemplateOut(**row.plan, id=row.id, built_in=False, created_at=row.created_at,
                       updated_at=row.updated_at)


@router.get("/project-templates", response_model=list[TemplateOut])
async def list_templates(session: SessionDep) -> Any:
    """The stored templates, and the built-in one unless a stored one took its name."""
    rows = [_out(row) for row in await projects.list_templates(session=session)]
    if all(row.name != BUILT_IN.name for row in rows):
        rows.append(TemplateOut(**ADAPTER.dump_python(BUILT_IN), id=None, built_in=True,
                                created_at=None, updated_at=None))
    return rows


@router.post("/project-templates", status_code=status.HTTP_201_CREATED,
             response_model=TemplateOut)
async def create_template(body: TemplateIn, session: SessionDep, once: OnceDep) -> Any:
    """A new template; naming it like the built-in one replaces that."""
    template = _checked(body)
    await once.claim(session)
    answer = _out(await projects.save_template(session=session, template=template))
    await once.keep(session, status.HTTP_201_CREATED, answer)
    return answer


@router.put("/project-templates/{template_id}", response_model=TemplateOut)
async def replace_template(row: TemplateDep, body: TemplateIn, session: SessionDep) -> Any:
    """The template replaced as a whole; running projects keep what they were set up with."""
    return _out(await projects.save_template(session=session, template=_checked(body), row=row))

