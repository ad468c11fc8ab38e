"""Tried like production: PostgreSQL, `crmflow api` and two `crmflow worker` processes, many
requests at once — every request's process runs; a process whose API died between saving
and starting is brought back by `crmflow processes repair`."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from crm import db
from crm.models import Lead, ProcessStart
from crm.settings import Settings
from crm.temporal import connect
from crmflow.mail_sink import MailSink, start_mail_sink
from tests import factories
from tests.conftest import free_port, fresh_namespace, register_search_attributes
from tests.faults import TcpProxy
from tests.waiting import eventually

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent
LEADS = 100


@pytest.fixture
async def temporal(dev_server: WorkflowEnvironment) -> Client:
    settings = Settings(temporal_address=dev_server.client.service_client.config.target_host,
                        temporal_namespace=await fresh_namespace(dev_server))
    client = await connect(settings)
    await register_search_attributes(client)
    return client


@pytest.fixture
def mailbox() -> Iterator[tuple[MailSink, int]]:
    port = free_port()
    controller, sink = start_mail_sink("127.0.0.1", port)
    yield sink, port
    controller.stop()


@pytest.fixture
def env(postgres: str, temporal: Client, mailbox: tuple[MailSink, int]) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CRMFLOW_")}
    return {
        **base,
        "CRMFLOW_DATABASE_URL": postgres,
        "CRMFLOW_TEMPORAL_ADDRESS": temporal.service_client.config.target_host,
        "CRMFLOW_TEMPORAL_NAMESPACE": temporal.namespace,
        "CRMFLOW_SMTP_PORT": str(mailbox[1]),
        "CRMFLOW_LOG_FORMAT": "json",
    }


def spawn(name: str, command: str, env: dict[str, str], tmp_path: Path) -> subprocess.Popen[bytes]:
    log = (tmp_path / f"{name}.log").open("wb")
    return subprocess.Popen([str(BIN / "crmflow"), command], env=env, stdout=log,
                            stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def workers(env: dict[str, str], tmp_path: Path) -> Iterator[None]:
    running = [spawn(f"worker-{n}", "worker", env, tmp_path) for n in (1, 2)]
    yield
    for process in running:
        stop(process)


@pytest.fixture
async def tokens(postgres: str) -> AsyncIterator[dict[str, str]]:
    engine = db.create_engine(postgres)
    sessions = db.create_sessions(engine)
    yield await factories.tokens(sessions, await factories.sales_team(sessions))
    await engine.dispose()


async def answered(url: str) -> bool:
    try:
        async with httpx.AsyncClient() as client:
            return (await client.get(f"{url}/health", timeout=2)).status_code in (200, 503)
    except httpx.HTTPError:
        return False


async def start_api(env: dict[str, str], tmp_path: Path, name: str = "api",
                    ) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = spawn(name, "api", {**env, "CRMFLOW_API_PORT": str(port)}, tmp_path)
    url = f"http://127.0.0.1:{port}"
    await eventually(lambda: answered(url), timeout=60)
    return process, url


async def repair(env: dict[str, str]) -> tuple[int, str, str]:
    """Run `crmflow processes repair` for every pending start; exit code, stdout, stderr."""
    process = await asyncio.create_subprocess_exec(
        str(BIN / "crmflow"), "processes", "repair", "--older-than", "0", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 120)
    return int(process.returncode or 0), out.decode(), err.decode()


async def test_a_hundred_leads_at_once_make_a_hundred_running_processes(
    env: dict[str, str], workers: None, tokens: dict[str, str], temporal: Client,
    mailbox: tuple[MailSink, int], postgres: str, tmp_path: Path,
) -> None:
    api, url = await start_api(env, tmp_path)
    try:
        auth = {"Authorization": f"Bearer {tokens['website']}"}
        limits = httpx.Limits(max_connections=32)
        async with httpx.AsyncClient(base_url=url, headers=auth, limits=limits,
                                     timeout=60) as http:
            answers = await asyncio.gather(*(
                http.post("/leads", json={"name": f"Lead {n}", "email": f"lead{n}@acme.example"})
                for n in range(LEADS)
            ))
        assert [a.status_code for a in answers] == [201] * LEADS, [
            a.text for a in answers if a.status_code != 201][:3]

        sink, _ = mailbox
        await eventually(lambda: len(sink.messages) >= LEADS, timeout=120)
        assert sorted(m.purpose for m in sink.messages) == ["welcome"] * LEADS
        ids = {f"lead-{a.json()['id']}" for a in answers}
        statuses = {
            p.id: p.status async for p in temporal.list_workflows("WorkflowType = 'LeadToSale'")
        }
        assert set(statuses) == ids
        assert set(statuses.values()) == {WorkflowExecutionStatus.RUNNING}
        engine = db.create_engine(postgres)

        async def nurturing_and_pending() -> tuple[int | None, int | None]:
            async with db.unit_of_work(db.create_sessions(engine)) as session:
                return (await session.scalar(
                            select(func.count(Lead.id)).where(Lead.status == "nurturing")),
                        await session.scalar(select(func.count(ProcessStart.id))
                                             .where(ProcessStart.started_at.is_(None))))

        for _ in range(50):  # the API marks its starts a moment after its answers
            if (settled := await nurturing_and_pending()) == (LEADS, 0):
                break
            await asyncio.sleep(0.1)
        await engine.dispose()
        assert settled == (LEADS, 0)
    finally:
        stop(api)


async def test_a_lead_whose_api_died_between_saving_and_starting_is_repaired(
    env: dict[str, str], workers: None, tokens: dict[str, str], temporal: Client,
    mailbox: tuple[MailSink, int], postgres: str, tmp_path: Path,
) -> None:
    host, _, port = temporal.service_client.config.target_host.rpartition(":")
    async with TcpProxy(host, int(port)) as proxy:
        api, url = await start_api({**env, "CRMFLOW_TEMPORAL_ADDRESS": proxy.address},
                                   tmp_path)
        auth = {"Authorization": f"Bearer {tokens['website']}"}
        async with httpx.AsyncClient(base_url=url, headers=auth, timeout=60) as http:
            assert (await http.get("/processes", headers={
                "Authorization": f"Bearer {tokens['admin']}"})).status_code == 200
            proxy.pause()  # the API's call to start the process hangs…
            signup = asyncio.create_task(http.post("/leads", json={
                "name": "Jane Buyer", "email": "jane@acme.example"}))

            engine = db.create_engine(postgres)
            sessions = db.create_sessions(engine)

            async def saved() -> bool:
                async with db.unit_of_work(sessions) as session:
                    return bool(await session.scalar(select(func.count(ProcessStart.id))))

            await eventually(saved, timeout=30)  # …after the lead was committed
            api.send_signal(signal.SIGKILL)  # and the API dies right there
            api.wait(timeout=10)
            await proxy.cut()
            with pytest.raises(httpx.HTTPError):
                await signup

    assert not [p async for p in temporal.list_workflows("WorkflowType = 'LeadToSale'")]
    code, out, err = await repair(env)
    assert code == 0, err
    assert out.splitlines() == ["lead-1: started"]

    sink, _ = mailbox
    [welcome] = await eventually(lambda: sink.to("jane@acme.example"), timeout=60)
    assert welcome.purpose == "welcome"
    assert (await repair(env))[:2] == (0, "")  # nothing left: nothing started twice
    async with db.unit_of_work(sessions) as session:
        lead = await session.scalar(select(Lead))
        assert lead is not None and lead.status == "nurturing"
    await engine.dispose()
