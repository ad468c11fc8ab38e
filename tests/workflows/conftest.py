"""Workflow tests: real workflows and activities (SQLite, SMTP) on the time-skipping server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from crm import db
from crm.settings import Settings
from crmflow.mail_sink import MailSink
from tests.conftest import binary, started
from worker.main import build_worker
from workflows import search_attributes


@dataclass
class Harness:
    env: WorkflowEnvironment
    sessions: db.Sessions
    mail: MailSink
    task_queue: str


async def _harness(
    env: WorkflowEnvironment, url: str, mail_sink: tuple[MailSink, int], tmp_path: Path
) -> AsyncIterator[Harness]:
    sink, port = mail_sink
    queue = f"test-{uuid.uuid4()}"
    # Processes that activities start (an invoice's dunning, a dispute's ticket) go to the
    # same task queue: on the time-skipping server, a workflow task nobody polls for would
    # stop the clock.
    settings = Settings(database_url=url, smtp_port=port, data_dir=tmp_path,
                        temporal_task_queue=queue)
    engine = db.create_engine(url)
    sessions = db.create_sessions(engine)
    async with build_worker(env.client, settings, sessions):
        yield Harness(env, sessions, sink, queue)
    await engine.dispose()


@pytest.fixture
async def harness(
    time_skipping: WorkflowEnvironment,
    sqlite_url: str,
    mail_sink: tuple[MailSink, int],
    tmp_path: Path,
) -> AsyncIterator[Harness]:
    async for h in _harness(time_skipping, sqlite_url, mail_sink, tmp_path):
        yield h


@pytest.fixture
async def harness_on_both(
    time_skipping: WorkflowEnvironment,
    database_url: str,
    mail_sink: tuple[MailSink, int],
    tmp_path: Path,
) -> AsyncIterator[Harness]:
    """The harness on SQLite and on PostgreSQL, for what depends on the database's locks."""
    async for h in _harness(time_skipping, database_url, mail_sink, tmp_path):
        yield h


@pytest.fixture
async def short_histories() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server suggesting continue-as-new after 40 events (4096 by default): a few
    minutes of a long process's life span several runs."""
    env = await started(lambda: WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        data_converter=pydantic_data_converter,
        search_attributes=search_attributes.ALL,
        dev_server_extra_args=[
            "--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=40",
            "--log-level", "error",
        ],
    ))
    async with env:
        yield env


async def runs_of(env: WorkflowEnvironment, workflow_id: str) -> int:
    """How many runs the workflow id has had (each continue-as-new is one more)."""
    return len([e async for e in env.client.list_workflows(f"WorkflowId = '{workflow_id}'")])
