"""Scale-out, shown: two `crmflow worker` processes on one task queue, one killed with SIGKILL
in the middle of running processes; every process still completes, each email sent once."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import psutil
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import func, select
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from crm import db
from crm.models import OutboxEmail, StatusChange
from crm.settings import Settings
from crm.temporal import connect
from crmflow.mail_sink import MailSink
from tests import factories
from tests.conftest import _empty_postgres, free_port, fresh_namespace, register_search_attributes
from tests.waiting import eventually
from workflows.lead_to_sale import LeadNurturingPolicy, LeadToSale, LeadToSaleInput

pytestmark = pytest.mark.e2e

SECOND = timedelta(seconds=1)
POLICY = LeadNurturingPolicy(step_delay=SECOND, content_wait=SECOND, max_loops=1,
                             lead_ttl=3 * SECOND)
EMAILS_PER_LEAD = ["welcome", "case_study", "white_paper", "case_study_2", "promotional_offer"]
LEADS = 12


class GatedMailSink(MailSink):
    """A mail server that can hold every conversation at RCPT, before it accepts anything."""

    def __init__(self) -> None:
        super().__init__()
        self.open = threading.Event()  # set from the test's thread, read in the server's
        self.open.set()
        self.held: dict[int, int] = {}
        """Client port → conversations held at RCPT from it."""

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, options: list[str]) -> str:
        port = session.peer[1]
        self.held[port] = self.held.get(port, 0) + 1
        try:
            await asyncio.get_running_loop().run_in_executor(None, self.open.wait)
        finally:
            self.held[port] -= 1
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.fixture
async def crm_url(postgres_url: str | None, tmp_path: Path, sqlite_template: Path) -> str:
    """PostgreSQL (the production path) where a server answers, else SQLite."""
    if postgres_url is not None:
        await _empty_postgres(postgres_url)
        return postgres_url
    shutil.copy(sqlite_template, tmp_path / "crm.db")
    return f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}"


@pytest.fixture
async def temporal(dev_server: WorkflowEnvironment) -> AsyncIterator[Client]:
    settings = Settings(temporal_address=dev_server.client.service_client.config.target_host,
                        temporal_namespace=await fresh_namespace(dev_server))
    client = await connect(settings)
    await register_search_attributes(client)
    yield client


def start_worker(name: str, env: dict[str, str], tmp_path: Path) -> subprocess.Popen[bytes]:
    log = (tmp_path / f"worker-{name}.log").open("wb")
    return subprocess.Popen([str(Path(sys.executable).parent / "crmflow"), "worker"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)


async def both_polling(client: Client) -> bool:
    response = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
        namespace=client.namespace, task_queue=TaskQueue(name="crmflow"),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW))
    return len({p.identity for p in response.pollers}) == 2


def scrape(port: int) -> str:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return ""


async def test_a_killed_worker_loses_no_process_and_doubles_no_email(
    temporal: Client, crm_url: str, tmp_path: Path
) -> None:
    from aiosmtpd.controller import Controller

    sink = GatedMailSink()
    smtp_port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    metrics = {"a": free_port(), "b": free_port()}
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("CRMFLOW_")}
    base_env.update({
        "CRMFLOW_DATABASE_URL": crm_url,
        "CRMFLOW_TEMPORAL_ADDRESS": temporal.service_client.config.target_host,
        "CRMFLOW_TEMPORAL_NAMESPACE": temporal.namespace,
        "CRMFLOW_SMTP_PORT": str(smtp_port),
        "CRMFLOW_SMTP_TIMEOUT_SECONDS": "5",
        "CRMFLOW_LOG_FORMAT": "json",
    })
    workers = {name: start_worker(name, {**base_env, "CRMFLOW_WORKER_METRICS_PORT": str(port)},
                                  tmp_path) for name, port in metrics.items()}
    engine = db.create_engine(crm_url)
    sessions = db.create_sessions(engine)
    try:
        await eventually(lambda: both_polling(temporal), timeout=60)
        handles = []
        for n in range(LEADS):
            lead = await factories.lead(sessions, email=f"lead{n}@acme.example")
            handles.append(await temporal.start_workflow(
                LeadToSale.run, LeadToSaleInput(lead.id, lead.name, lead.email, policy=POLICY),
                id=f"lead-{lead.id}", task_queue="crmflow"))

        # Mid-run: some emails out, then every conversation in flight held before acceptance.
        await eventually(lambda: len(sink.messages) >= 15, timeout=60)
        assert "temporal_" in scrape(metrics["a"]), "worker a serves the SDK's metrics"
        sink.open.clear()

        async def worker_a_holds_an_email_and_none_is_past_acceptance() -> bool:
            async with db.unit_of_work(sessions) as session:
                sending = await session.scalar(
                    select(func.count(OutboxEmail.id)).where(OutboxEmail.status == "sending"))
            held = {port for port, n in sink.held.items() if n}
            a_ports = {c.laddr.port for c in psutil.Process(workers["a"].pid).net_connections()}
            return bool(held & a_ports) and sending == sum(sink.held.values())

        await eventually(worker_a_holds_an_email_and_none_is_past_acceptance, timeout=30)
        workers["a"].send_signal(signal.SIGKILL)
        workers["a"].wait(timeout=10)
        sink.open.set()

        results = await asyncio.wait_for(
            asyncio.gather(*(h.result() for h in handles)), timeout=180)

        assert [r.status for r in results] == ["dormant"] * LEADS
        delivered = Counter(m.key for m in sink.messages)
        expected = {f"{h.id}:{purpose}" for h in handles for purpose in EMAILS_PER_LEAD}
        assert set(delivered) == expected
        assert [key for key, times in delivered.items() if times > 1] == []
        async with db.unit_of_work(sessions) as session:
            statuses = Counter(await session.scalars(select(OutboxEmail.status)))
            changes = Counter(await session.scalars(select(StatusChange.to_status)))
        assert statuses == {"sent": LEADS * len(EMAILS_PER_LEAD)}
        async with db.unit_of_work(sessions) as session:
            retried = await session.scalar(
                select(func.count(OutboxEmail.id)).where(OutboxEmail.attempts > 1))
        assert retried, "the email worker a was sending when it died was sent again, by b"
        assert changes == {"nurturing": LEADS, "dormant": LEADS}
        assert "temporal_" in scrape(metrics["b"])
    finally:
        for process in workers.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
        controller.stop()
        await engine.dispose()
