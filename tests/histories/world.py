"""What a recorded scenario gets: the time-skipping server, a scratch CRM, a sales team."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from crm import db
from tests import factories


@dataclass
class World:
    env: WorkflowEnvironment
    sessions: db.Sessions
    task_queue: str
    team: factories.SalesTeam


Scenario = Callable[[World], Awaitable[WorkflowHandle[Any, Any]]]
