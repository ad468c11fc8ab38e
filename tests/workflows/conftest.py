"""Workflow tests: real workflows and activities (SQLite, SMTP) on the time-skipping server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from crm import db
from crm.settings import Settings
from crmflow.mail_sink import MailSink
from worker.main import build_worker


@dataclass
class Harness:
    env: WorkflowEnvironment
    sessions: db.Sessions
    mail: MailSink
    task_queue: str


@pytest.fixture
async def harness(
    time_skipping: WorkflowEnvironment,
    sqlite_url: str,
    mail_sink: tuple[MailSink, int],
    tmp_path: Path,
) -> AsyncIterator[Harness]:
    sink, port = mail_sink
    settings = Settings(database_url=sqlite_url, smtp_port=port, data_dir=tmp_path)
    engine = db.create_engine(sqlite_url)
    sessions = db.create_sessions(engine)
    queue = f"test-{uuid.uuid4()}"
    async with build_worker(time_skipping.client, settings, sessions, task_queue=queue):
        yield Harness(time_skipping, sessions, sink, queue)
    await engine.dispose()
