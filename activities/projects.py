"""Sale to project's activities: starting a won sale's project (commit, then start), and the
short writes its process makes to the project's rows, each idempotent."""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from crm import db
from crm.errors import CrmError
from crm.policies import PolicyStore
from crm.projects import start_project
from crm.repo import projects
from crm.settings import Settings
from workflows.contracts import START_PROJECT, ProjectToStart, StartedProject
from workflows.project_types import (
    COMPLETE_MILESTONE,
    END_PROJECT,
    MilestoneDone,
    ProjectEnded,
)
from workflows.registry import SALE_TO_PROJECT


class ProjectActivities:
    def __init__(
        self, sessions: db.Sessions, client: Client, settings: Settings, policies: PolicyStore
    ) -> None:
        self.sessions = sessions
        self.client = client
        self.settings = settings
        self.policies = policies

    @activity.defn(name=START_PROJECT)
    async def start_project(self, request: ProjectToStart) -> StartedProject:
        """Set up the sale's project and start its process, once per sale however often
        asked. A sale that cannot become a project (no contact, no one to manage it) is a
        business refusal, not retried."""
        async with self.sessions() as session:
            try:
                await start_project(session, self.client, self.settings,
                                    self.policies.current(), request.sale_id)
            except CrmError as refusal:
                raise ApplicationError(refusal.detail, type=type(refusal).__name__,
                                       non_retryable=True) from refusal
        return StartedProject(SALE_TO_PROJECT.workflow_id(request.sale_id))

    @activity.defn(name=COMPLETE_MILESTONE)
    async def complete_milestone(self, done: MilestoneDone) -> None:
        async with db.unit_of_work(self.sessions) as session:
            await projects.complete_milestone(session=session, milestone_id=done.milestone_id,
                                              completed_at=done.completed_at,
                                              completed_by_id=done.completed_by_id)

    @activity.defn(name=END_PROJECT)
    async def end_project(self, ended: ProjectEnded) -> None:
        async with db.unit_of_work(self.sessions) as session:
            project = await projects.get_project(session=session, project_id=ended.project_id)
            project.closed_at = project.closed_at or ended.ended_at
