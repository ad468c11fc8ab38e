"""Setting up a sale's project against real databases: the template of its product line (or
the policy's, or the built-in one), its people, once per sale even when two ask at once."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from crm import db
from crm.errors import MissingInformation
from crm.models import ProcessStart, Project, User
from crm.policies import Policies
from crm.project_templates import MilestonePlan, ProjectTemplate
from crm.projects import record_project
from crm.repo import projects
from tests import factories
from workflows.project_types import ProjectPolicy


def template(name: str, product_line: str | None = None) -> ProjectTemplate:
    return ProjectTemplate(name=name, product_line=product_line,
                           milestones=[MilestonePlan(f"{name} done", 10, Decimal(100))])


async def set_up(sessions: db.Sessions, sale_id: int, default: str = "standard"
                 ) -> tuple[Project, ProcessStart | None]:
    async with db.unit_of_work(sessions) as session:
        return await record_project(session=session, sale_id=sale_id, policies=Policies(
            project=ProjectPolicy(default_template=default)))


async def test_a_sale_takes_its_product_lines_template_else_the_policys_else_the_built_in(
    sessions: db.Sessions,
) -> None:
    team = await factories.sales_team(sessions)
    async with db.unit_of_work(sessions) as session:
        for made in (template("academy", "training"), template("lean")):
            await projects.save_template(session=session, template=made)
    chosen = []
    for product_line, default in (("training", "lean"), ("hardware", "lean"),
                                  (None, "nowhere")):
        sale_id = await factories.sale(sessions, team, product_line=product_line)
        project, start = await set_up(sessions, sale_id, default)
        assert start is not None and start.workflow_id == f"project-{sale_id}"
        chosen.append(project.template)
    assert chosen == ["academy", "lean", "standard"]


async def test_two_starters_at_once_make_one_project(sessions: db.Sessions) -> None:
    team = await factories.sales_team(sessions)
    sale_id = await factories.sale(sessions, team)
    results = await asyncio.gather(set_up(sessions, sale_id), set_up(sessions, sale_id))
    assert results[0][0].id == results[1][0].id
    assert sorted(start is None for _, start in results) == [False, True]
    async with db.unit_of_work(sessions) as session:
        assert await session.scalar(select(func.count(Project.id))) == 1
        assert await session.scalar(select(func.count(ProcessStart.id))) == 1


async def test_the_manager_is_the_least_busy_sales_manager_else_an_admin(
    sessions: db.Sessions,
) -> None:
    team = await factories.sales_team(sessions)
    managers = []
    for _ in range(3):
        project, _ = await set_up(sessions, await factories.sale(sessions, team))
        managers.append(project.manager_id)
    assert managers == [team.manager.id, team.other_manager.id, team.manager.id]

    async with db.unit_of_work(sessions) as session:
        for user in await session.scalars(select(User).where(User.role == "sales_manager")):
            user.active = False
    project, _ = await set_up(sessions, await factories.sale(sessions, team))
    assert project.manager_id == team.admin.id
    async with db.unit_of_work(sessions) as session:
        (await session.get(User, team.admin.id)).active = False  # type: ignore[union-attr]
    with pytest.raises(MissingInformation, match="no sales manager or admin"):
        await set_up(sessions, await factories.sale(sessions, team))
