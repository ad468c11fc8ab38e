"""Projects in workflow tests and recordings: a sale's project set up and started as the quote's
process starts it (``crm.projects.start_project``), on a worker whose settings name its own
task queue, so that the invoices' dunning processes the project starts run there too."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import select
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from crm import db, launcher
from crm.models import Invoice, ProcessStart, Project, User
from crm.policies import Policies
from crm.project_templates import ProjectTemplate
from crm.projects import record_project, start_project
from crm.repo import history, projects
from crm.settings import Settings
from crmflow.mail_sink import MailSink
from tests import factories
from worker.main import build_worker
from workflows.project_types import ProjectPolicy, ProjectResult, SaleToProjectInput
from workflows.sale_to_project import SaleToProject

DAY = timedelta(days=1)
CONTACT = "jane@acme.example"
"""The customer's contact, and its billing address (so also the invoices' recipient)."""


@dataclass
class Projects:
    env: WorkflowEnvironment
    sessions: db.Sessions
    mail: MailSink
    settings: Settings
    team: factories.SalesTeam
    accountant: User
    """Petra: the built-in template's billing role."""

    async def start(self, policy: ProjectPolicy | None = None, *, template: ProjectTemplate |
                    None = None, invoicing: str | None = None, overdue_by: timedelta | None = None
                    ) -> Started:
        """A sale of Alice's and its project started (with this template as the policy's
        default); ``overdue_by``: its milestones' due dates moved that far into the past."""
        policy = policy or ProjectPolicy()
        if template is not None:
            async with db.unit_of_work(self.sessions) as session:
                await projects.save_template(session=session, template=template)
            policy = dataclasses.replace(policy, default_template=template.name)
        sale_id = await factories.sale(self.sessions, self.team, invoicing=invoicing)
        policies = Policies(project=policy)
        async with self.sessions() as session:
            if overdue_by is None:
                project, _ = await start_project(session, self.env.client, self.settings,
                                                 policies, sale_id)
            else:
                project, start = await record_project(session=session, sale_id=sale_id,
                                                      policies=policies)
                assert start is not None
                start.input = _moved(start.input, overdue_by)
                await session.commit()
                await launcher.launch(session, self.env.client, self.settings, start,
                                      fresh=True)
            data = await _input(session, sale_id)
        handle = self.env.client.get_workflow_handle_for(SaleToProject.run,
                                                         f"project-{sale_id}")
        return Started(sale_id, project.id, data, handle)

    async def statuses(self, project_id: int) -> list[tuple[str, str | None]]:
        async with db.unit_of_work(self.sessions) as session:
            rows = await history.history_of(session=session, object_type="project",
                                            object_id=project_id)
            return [(row.to_status, row.reason) for row in rows]

    async def invoices(self, project_id: int) -> list[Invoice]:
        async with db.unit_of_work(self.sessions) as session:
            return list(await session.scalars(select(Invoice).where(
                Invoice.project_id == project_id).order_by(Invoice.id)))

    async def project(self, project_id: int) -> Project:
        async with db.unit_of_work(self.sessions) as session:
            return await projects.get_project(session=session, project_id=project_id)


@dataclass
class Started:
    sale_id: int
    project_id: int
    data: SaleToProjectInput
    handle: WorkflowHandle[Any, ProjectResult]

    def milestone(self, name: str) -> int:
        return next(m.milestone_id for m in self.data.milestones if m.name == name)


@asynccontextmanager
async def running(env: WorkflowEnvironment, url: str, mail_sink: tuple[MailSink, int],
                  tmp_path: Path) -> AsyncIterator[Projects]:
    """The CRM's worker on a task queue of its own, which its settings name."""
    sink, port = mail_sink
    settings = Settings(database_url=url, smtp_port=port, data_dir=tmp_path,
                        temporal_task_queue=f"test-{uuid.uuid4()}")
    engine = db.create_engine(url)
    sessions = db.create_sessions(engine)
    team = await factories.sales_team(sessions)
    accountant = await factories.accountant(sessions)
    async with build_worker(env.client, settings, sessions):
        yield Projects(env, sessions, sink, settings, team, accountant)
    await engine.dispose()


async def _input(session: Any, sale_id: int) -> SaleToProjectInput:
    start = await session.scalar(select(ProcessStart).where(
        ProcessStart.workflow_id == f"project-{sale_id}"))
    return TypeAdapter(SaleToProjectInput).validate_json(start.input)


def _moved(raw: str, back: timedelta) -> str:
    data = TypeAdapter(SaleToProjectInput).validate_json(raw)
    for milestone in data.milestones:
        milestone.due_on -= back
    return TypeAdapter(SaleToProjectInput).dump_json(data).decode()
