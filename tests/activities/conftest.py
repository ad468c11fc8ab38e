"""Activity tests: real database (SQLite and PostgreSQL), real SMTP server."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from temporalio.testing import ActivityEnvironment

from crm.settings import Settings
from crmflow.mail_sink import MailSink


@pytest.fixture
def activity_env() -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_id="lead-1", workflow_run_id="run-1",
                                   activity_id="1")
    return env


@pytest.fixture
def settings(database_url: str, mail_sink: tuple[MailSink, int], tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, smtp_port=mail_sink[1], data_dir=tmp_path,
                    smtp_timeout_seconds=5)
