"""API tests: the real app over ASGI, a real worker, the real dev server, a real SMTP server.

Each test gets a Temporal namespace of its own on the shared dev server (the API's workflow
ids, lead-1 and quote-1, would collide otherwise) and a fresh CRM database on SQLite and on
PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from temporalio.client import Client, Interceptor
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from crm import db
from crm.settings import Settings
from crm.temporal import connect
from crmflow.mail_sink import MailSink
from tests import factories
from tests.conftest import fresh_namespace, register_search_attributes
from tests.faults import TcpProxy
from worker.main import build_worker


@dataclass
class Api:
    http: httpx.AsyncClient
    sessions: db.Sessions
    mail: MailSink
    temporal: Client
    team: factories.SalesTeam
    tokens: dict[str, str] = field(default_factory=dict)
    settings: Settings = field(default_factory=Settings)
    """The worker's settings (its namespace, its database)."""
    app: FastAPI | None = None

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    async def call(self, method: str, url: str, who: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.auth(who), **kwargs.pop("headers", {})}
        return await self.http.request(method, url, headers=headers, **kwargs)


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    """The policies the API starts processes with; tests may rewrite the file."""
    path = tmp_path / "policies.toml"
    path.write_text("")
    return path


@asynccontextmanager
async def running_api(
    dev_server: WorkflowEnvironment,
    database_url: str,
    smtp: tuple[MailSink, int],
    tmp_path: Path,
    *,
    policy_file: Path | None = None,
    api_temporal_address: str | None = None,
    interceptors: Sequence[Interceptor] = (),
    **settings: Any,
) -> AsyncIterator[Api]:
    """The app over ASGI with its worker, on a namespace of its own. The API may reach
    Temporal by another address (a faulty proxy) or through client interceptors; the
    worker always reaches it directly."""
    sink, smtp_port = smtp
    worker_settings = Settings(
        database_url=database_url,
        smtp_port=smtp_port,
        data_dir=tmp_path,
        temporal_address=dev_server.client.service_client.config.target_host,
        temporal_namespace=await fresh_namespace(dev_server),
        policy_file=policy_file,
        **settings,
    )
    client = await connect(worker_settings)
    await register_search_attributes(client)
    api_settings = worker_settings.model_copy(
        update={"temporal_address": api_temporal_address or worker_settings.temporal_address})
    api_client = await connect(api_settings)
    if interceptors:
        api_client = Client(**{**api_client.config(), "interceptors": interceptors})
    engine = db.create_engine(database_url)
    sessions = db.create_sessions(engine)
    team = await factories.sales_team(sessions)
    tokens = await factories.tokens(sessions, team)
    app = create_app(api_settings, temporal=api_client)
    async with build_worker(client, worker_settings, sessions), app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://crm") as http:
            yield Api(http, sessions, sink, client, team, tokens, worker_settings, app)
    await engine.dispose()


@pytest.fixture
async def api(
    dev_server: WorkflowEnvironment,
    database_url: str,
    mail_sink: tuple[MailSink, int],
    policy_file: Path,
    tmp_path: Path,
) -> AsyncIterator[Api]:
    async with running_api(dev_server, database_url, mail_sink, tmp_path,
                           policy_file=policy_file) as running:
        yield running


@pytest.fixture
async def temporal_proxy(dev_server: WorkflowEnvironment) -> AsyncIterator[TcpProxy]:
    """A proxy to the dev server that a test can pause (Temporal hangs) or cut (down)."""
    host, _, port = dev_server.client.service_client.config.target_host.rpartition(":")
    async with TcpProxy(host, int(port)) as proxy:
        yield proxy


@pytest.fixture
async def api_via_proxy(
    dev_server: WorkflowEnvironment, database_url: str, mail_sink: tuple[MailSink, int],
    tmp_path: Path, temporal_proxy: TcpProxy,
) -> AsyncIterator[Api]:
    async with running_api(dev_server, database_url, mail_sink, tmp_path,
                           api_temporal_address=temporal_proxy.address,
                           temporal_rpc_timeout_seconds=1.5) as api:
        yield api
