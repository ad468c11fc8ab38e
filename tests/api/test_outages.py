"""Outages: the CRM database or Temporal down or hung is a 503 naming it, never a 500 or a hang.

Nothing is mocked: the app reaches the real PostgreSQL server and the real Temporal dev
server through a TCP proxy (tests/faults.py) that the test cuts, pauses and restores.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import make_url
from temporalio.client import Client, RPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from api import problems
from api.app import create_app
from crm import db
from crm.settings import Settings
from crm.temporal import connect
from tests import factories
from tests.conftest import _empty_postgres, fresh_namespace, register_search_attributes
from tests.faults import TcpProxy

# Words of a driver's or a server's own error text, which an answer must never carry.
DRIVER_WORDS = ("asyncpg", "sqlalchemy", "errno", "connection reset", "postgres", "5432",
                "transport error", "tonic")


@dataclass
class Outage:
    """The API with its database or Temporal behind a proxy the test controls."""

    http: httpx.AsyncClient
    tokens: dict[str, str]
    database: TcpProxy | None = None
    temporal: TcpProxy | None = None
    secrets: list[str] = field(default_factory=list)
    """What the answers must not show: the database's name, its address."""

    async def call(self, method: str, url: str, who: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        return await self.http.request(method, url, headers=headers, **kwargs)


async def _settings(
    dev_server: WorkflowEnvironment, tmp_path: Path, database_url: str, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url, "data_dir": tmp_path,
        "temporal_address": dev_server.client.service_client.config.target_host,
        "temporal_namespace": await fresh_namespace(dev_server),
    }
    return Settings(**{**values, **overrides})


@asynccontextmanager
async def _running(settings: Settings, temporal: Client | None) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, temporal=temporal)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://crm") as http:
            yield http


async def _seed(database_url: str) -> dict[str, str]:
    """A sales team with tokens, and lead 1 with quote 1."""
    engine = db.create_engine(database_url)
    sessions = db.create_sessions(engine)
    team = await factories.sales_team(sessions)
    tokens = await factories.tokens(sessions, team)
    lead = await factories.qualified_lead(sessions, team.rep)
    await factories.quote(sessions, lead, team.rep)
    await engine.dispose()
    return tokens


@pytest.fixture
async def database_outage(
    postgres_url: str | None, dev_server: WorkflowEnvironment, tmp_path: Path
) -> AsyncIterator[Outage]:
    """The API on PostgreSQL reached through a proxy; Temporal direct."""
    if postgres_url is None:
        pytest.skip("no PostgreSQL server answers")
    await _empty_postgres(postgres_url)
    tokens = await _seed(postgres_url)
    server = make_url(postgres_url)
    async with TcpProxy(server.host or "127.0.0.1", server.port or 5432) as proxy:
        through = server.set(host="127.0.0.1", port=proxy.port)
        settings = await _settings(dev_server, tmp_path,
                                   through.render_as_string(hide_password=False))
        client = await connect(settings)
        await register_search_attributes(client)
        async with _running(settings, client) as http:
            secrets = [str(server.database), str(through.host), str(proxy.port)]
            yield Outage(http, tokens, database=proxy, secrets=secrets)


@pytest.fixture
async def temporal_outage(
    sqlite_url: str, dev_server: WorkflowEnvironment, tmp_path: Path
) -> AsyncIterator[Outage]:
    """The API on SQLite, with Temporal reached through a proxy and a 1.5 s RPC timeout."""
    tokens = await _seed(sqlite_url)
    host, _, port = dev_server.client.service_client.config.target_host.rpartition(":")
    async with TcpProxy(host, int(port)) as proxy:
        settings = await _settings(dev_server, tmp_path, sqlite_url,
                                   temporal_address=proxy.address,
                                   temporal_rpc_timeout_seconds=1.5)
        client = await connect(settings)
        await register_search_attributes(client)
        async with _running(settings, client) as http:
            yield Outage(http, tokens, temporal=proxy)


def assert_unavailable(response: httpx.Response, system: str, outage: Outage) -> None:
    """A 503 problem naming the system, with Retry-After and no driver text or address."""
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) > 0
    body = response.json()
    assert body["title"] == "Service unavailable"
    assert system in body["detail"]
    text = response.text.lower()
    for word in (*DRIVER_WORDS, *(s.lower() for s in outage.secrets)):
        assert word not in text, f"{word!r} in {response.text}"


REQUESTS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("GET", "/leads", "rep", {}),
    ("GET", "/quotes/1", "rep", {}),
    ("GET", "/tasks", "rep", {}),
    ("GET", "/me", "rep", {}),
    ("POST", "/leads", "website", {"json": {"name": "Ann", "email": "ann@b.example"}}),
]


async def test_a_cut_database_is_503_naming_it_until_it_is_back(database_outage: Outage) -> None:
    outage, proxy = database_outage, database_outage.database
    assert proxy is not None
    assert (await outage.call("GET", "/me", "rep")).status_code == 200  # a pooled connection

    await proxy.cut()
    for method, url, who, kwargs in REQUESTS:
        response = await outage.call(method, url, who, **kwargs)
        assert_unavailable(response, "database", outage)

    proxy.restore()
    for method, url, who, kwargs in REQUESTS:
        response = await outage.call(method, url, who, **kwargs)
        assert response.status_code in (200, 201), (url, response.text)


async def test_a_database_refusing_connections_is_503_without_its_name(
    database_outage: Outage, postgres_url: str
) -> None:
    name = make_url(postgres_url).database
    admin = await asyncpg.connect(
        make_url(postgres_url).set(drivername="postgresql", database="postgres")
        .render_as_string(hide_password=False)
    )
    try:
        # What an operator does to take a database out of service; the driver's error
        # then reads 'database "<name>" is not currently accepting connections'.
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = $1 AND pid <> pg_backend_pid()", name)
        response = await database_outage.call("GET", "/leads", "rep")
        assert_unavailable(response, "database", database_outage)
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()
    assert (await database_outage.call("GET", "/leads", "rep")).status_code == 200


async def test_a_database_outage_is_one_warning_line_not_a_traceback(
    database_outage: Outage, json_logs: Callable[[], list[dict[str, Any]]]
) -> None:
    assert database_outage.database is not None
    await database_outage.database.cut()
    json_logs()  # what came before
    response = await database_outage.call("GET", "/leads", "rep")
    assert response.status_code == 503

    lines = json_logs()
    assert not [line for line in lines if "exception" in line or line["level"] == "error"]
    warnings = [line for line in lines if line["level"] == "warning"]
    assert len(warnings) == 1, warnings
    assert warnings[0]["event"] == "dependency unavailable"
    assert "database" in warnings[0]["system"]
    assert warnings[0]["error"] == "OperationalError"


async def test_health_reports_a_cut_database_without_the_error(database_outage: Outage) -> None:
    assert database_outage.database is not None
    await database_outage.database.cut()
    response = await asyncio.wait_for(database_outage.http.get("/health"), 10)
    assert response.status_code == 503
    assert response.json() == {"status": "degraded", "database": "unavailable", "temporal": "ok"}


async def test_reads_do_not_wait_for_a_sqlite_writer(
    sqlite_url: str, dev_server: WorkflowEnvironment, tmp_path: Path
) -> None:
    tokens = await _seed(sqlite_url)
    settings = await _settings(dev_server, tmp_path, sqlite_url)
    client = await connect(settings)
    async with _running(settings, client) as http:
        writer = sqlite3.connect(str(make_url(sqlite_url).database), isolation_level=None)
        try:
            writer.execute("BEGIN IMMEDIATE")  # holds the write lock, as a long write would
            health = await asyncio.wait_for(http.get("/health"), 10)
            assert health.status_code == 200
            assert health.json() == {"status": "ok", "database": "ok", "temporal": "ok"}
            me = await asyncio.wait_for(
                http.get("/me", headers={"Authorization": f"Bearer {tokens['rep']}"}), 10
            )
            assert me.status_code == 200
        finally:
            writer.execute("ROLLBACK")
            writer.close()


async def test_a_cut_temporal_is_503_naming_it(temporal_outage: Outage) -> None:
    assert temporal_outage.temporal is not None
    await temporal_outage.temporal.cut()
    # The SDK retries a broken transport for a few seconds before it gives up.
    for url in ("/processes", "/processes/lead-1"):
        response = await asyncio.wait_for(temporal_outage.call("GET", url, "rep"), 30)
        assert_unavailable(response, "Temporal", temporal_outage)

    temporal_outage.temporal.restore()
    assert (await temporal_outage.call("GET", "/processes", "rep")).status_code == 200


async def test_a_hung_temporal_is_503_within_the_rpc_timeout(temporal_outage: Outage) -> None:
    assert temporal_outage.temporal is not None
    temporal_outage.temporal.pause()
    response = await asyncio.wait_for(temporal_outage.call("GET", "/processes", "rep"), 10)
    assert_unavailable(response, "Temporal", temporal_outage)
    response = await asyncio.wait_for(temporal_outage.call("GET", "/processes/lead-1", "rep"),
                                      10)
    assert_unavailable(response, "Temporal", temporal_outage)

    health = await asyncio.wait_for(temporal_outage.http.get("/health"), 10)
    assert health.json() == {"status": "degraded", "database": "ok", "temporal": "unavailable"}
    temporal_outage.temporal.restore()


async def test_a_hung_temporal_at_first_connection_is_503_naming_its_address(
    sqlite_url: str, dev_server: WorkflowEnvironment, tmp_path: Path
) -> None:
    tokens = await _seed(sqlite_url)
    host, _, port = dev_server.client.service_client.config.target_host.rpartition(":")
    async with TcpProxy(host, int(port)) as proxy:
        proxy.pause()
        settings = await _settings(dev_server, tmp_path, sqlite_url,
                                   temporal_address=proxy.address,
                                   temporal_rpc_timeout_seconds=1.5)
        async with _running(settings, None) as http:  # the API connects on first use
            outage = Outage(http, tokens, temporal=proxy)
            response = await asyncio.wait_for(outage.call("GET", "/processes", "rep"), 10)
            assert response.status_code == 503
            assert response.json()["detail"] == (
                f"Temporal at {proxy.address} is unavailable; try again later"
            )


def _rpc(status: RPCStatusCode) -> RPCError:
    return RPCError(f"server says {status.name}", status, b"")


ERRORS: dict[str, tuple[Callable[[], BaseException], int]] = {
    "pool exhausted": (lambda: sa_exc.TimeoutError("QueuePool limit reached"), 503),
    "too many clients": (lambda: sa_exc.DBAPIError(
        None, None, asyncpg.TooManyConnectionsError("sorry, too many clients already")), 503),
    "server starting up": (lambda: sa_exc.DBAPIError(
        None, None, asyncpg.CannotConnectNowError("the database system is starting up")), 503),
    "duplicate key": (lambda: sa_exc.IntegrityError("INSERT", {}, Exception("duplicate")), 500),
    "driver misuse": (lambda: sa_exc.InterfaceError(
        "SELECT", {}, Exception("another operation is in progress")), 500),
    "temporal unavailable": (lambda: _rpc(RPCStatusCode.UNAVAILABLE), 503),
    "temporal overloaded": (lambda: _rpc(RPCStatusCode.RESOURCE_EXHAUSTED), 503),
    "temporal timed out": (lambda: RPCTimeoutOrCancelledError(), 503),
    "temporal not found": (lambda: _rpc(RPCStatusCode.NOT_FOUND), 500),
    "temporal invalid query": (lambda: _rpc(RPCStatusCode.INVALID_ARGUMENT), 500),
}


async def _status_when(raises: Callable[[], Awaitable[None]]) -> int:
    """The status of the answer the problem handlers give when a handler raises."""
    app = FastAPI()
    problems.install(app)
    app.get("/")(raises)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://crm") as http:
        return (await http.get("/")).status_code


@pytest.mark.parametrize("name", ERRORS)
async def test_only_outages_are_503_other_errors_stay_500(name: str) -> None:
    make_error, status = ERRORS[name]

    async def fail() -> None:
        raise make_error()

    assert await _status_when(fail) == status


async def test_a_sql_mistake_on_sqlite_stays_500(sqlite_url: str) -> None:
    engine = db.create_engine(sqlite_url)

    async def mistake() -> None:  # sqlite3 raises it as an OperationalError, as a lock
        async with engine.connect() as connection:
            await connection.execute(text("SELECT * FROM no_such_table"))

    assert await _status_when(mistake) == 500
    await engine.dispose()


async def test_a_scheduled_trigger_with_temporal_cut_is_503_and_publishes_nothing(
    temporal_outage: Outage,
) -> None:
    """Its schedule cannot be kept: the version is not published. A definition without a
    schedule publishes all the same."""
    assert temporal_outage.temporal is not None
    manual = {"name": "Hello", "object": "lead",
              "templates": {"hi": {"subject": "Hi", "body": "Hello."}},
              "steps": [{"id": "hi", "send_email": {"template": "hi"}}]}
    scheduled = {**manual, "name": "Mondays", "trigger": {
        "when": "schedule", "at": "09:00", "condition": 'lead.country == "FR"'}}
    ids = []
    for document in (manual, scheduled):
        created = await temporal_outage.call("POST", "/workflow-definitions", "admin",
                                             json={"definition": document})
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    await temporal_outage.temporal.cut()
    refused = await asyncio.wait_for(temporal_outage.call(
        "POST", f"/workflow-definitions/{ids[1]}/publish", "admin"), 30)
    assert_unavailable(refused, "Temporal", temporal_outage)
    published = await temporal_outage.call("POST", f"/workflow-definitions/{ids[0]}/publish",
                                           "admin")
    assert published.status_code == 200, published.text
    temporal_outage.temporal.restore()
    unchanged = (await temporal_outage.call("GET", f"/workflow-definitions/{ids[1]}",
                                            "admin")).json()
    assert (unchanged["status"], unchanged["active_version"]) == ("draft", None)
