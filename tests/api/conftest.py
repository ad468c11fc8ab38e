"""API tests: the real app over ASGI, a real worker, the real dev server, a real SMTP server.

Each test gets a Temporal namespace of its own on the shared dev server (the API's workflow
ids, lead-1 and quote-1, would collide otherwise) and a fresh CRM database on SQLite and on
PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from crm import db
from crm.settings import Settings
from crm.temporal import connect
from crmflow.mail_sink import MailSink
from tests import factories
from tests.conftest import fresh_namespace, register_search_attributes
from worker.main import build_worker


@dataclass
class Api:
    http: httpx.AsyncClient
    sessions: db.Sessions
    mail: MailSink
    temporal: Client
    team: factories.SalesTeam
    tokens: dict[str, str] = field(default_factory=dict)

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    async def call(self, method: str, url: str, who: str, **kwargs: Any) -> httpx.Response:
        return await self.http.request(method, url, headers=self.auth(who), **kwargs)


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    """The policies the API starts processes with; tests may rewrite the file."""
    path = tmp_path / "policies.toml"
    path.write_text("")
    return path


@pytest.fixture
async def api(
    dev_server: WorkflowEnvironment,
    database_url: str,
    mail_sink: tuple[MailSink, int],
    policy_file: Path,
    tmp_path: Path,
) -> AsyncIterator[Api]:
    sink, smtp_port = mail_sink
    settings = Settings(
        database_url=database_url,
        smtp_port=smtp_port,
        data_dir=tmp_path,
        temporal_address=dev_server.client.service_client.config.target_host,
        temporal_namespace=await fresh_namespace(dev_server),
        policy_file=policy_file,
    )
    client = await connect(settings)
    await register_search_attributes(client)
    engine = db.create_engine(database_url)
    sessions = db.create_sessions(engine)
    team = await factories.sales_team(sessions)
    tokens = await factories.tokens(sessions, team)
    app = create_app(settings, temporal=client)
    async with build_worker(client, settings, sessions), app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://crm") as http:
            yield Api(http, sessions, sink, client, team, tokens)
    await engine.dispose()
