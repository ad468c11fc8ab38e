"""The real stack for the fault tests, with the handles to break it.

A Temporal dev server persisting to a file (as `crmflow dev` runs it, so it can be killed
and started again on the same file), a scratch PostgreSQL database of the test's own (so it
can refuse connections without touching anything else), a counting SMTP server (which can
go down, come back on the same port, and refuse addresses for good), `crmflow api` and two
`crmflow worker` processes. Every process started here is stopped by ``close()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import psutil
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.engine import make_url
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from crm import db
from crm.migrate import upgrade_to_head
from crm.settings import Settings
from crm.temporal import connect
from crmflow.dev_stack import TemporalDevServer
from crmflow.mail_sink import MailSink
from tests.conftest import POSTGRES_SERVER, free_port
from tests.waiting import eventually

BIN = Path(sys.executable).parent
UNKNOWN_DOMAIN = "unknown.example"
"""Addresses here are refused for good by the counting SMTP server (550 unknown user)."""


class CountingSmtp(MailSink):
    """Accepts every message (slowly, so conversations are in flight when a worker dies),
    refuses addresses of ``UNKNOWN_DOMAIN`` for good, and counts what it accepted by
    Message-ID."""

    def __init__(self, accept_after: float = 0.0) -> None:
        super().__init__()
        self.accept_after = accept_after
        self.refused: list[str] = []

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, options: list[str]) -> str:
        if address.lower().endswith("@" + UNKNOWN_DOMAIN):
            self.refused.append(address)
            return "550 5.1.1 unknown user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.accept_after:
            await asyncio.sleep(self.accept_after)
        return await super().handle_DATA(server, session, envelope)

    def by_message_id(self) -> Counter[str]:
        with self._lock:
            return Counter(str(m.message["Message-ID"]) for m in self.messages)


@dataclass
class FaultStack:
    tmp: Path
    database_url: str = ""
    database_name: str = ""
    smtp: CountingSmtp = field(default_factory=lambda: CountingSmtp(accept_after=0.2))
    smtp_port: int = field(default_factory=free_port)
    policy_file: Path | None = None
    temporal: TemporalDevServer | None = None
    api_url: str = ""
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _api: subprocess.Popen[bytes] | None = None
    _smtp_controller: Controller | None = None
    _spawned: int = 0
    _admin_url: str = ""

    # Setting up ----------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        assert self.temporal is not None
        return self.temporal.settings

    async def start(self, policies: str) -> FaultStack:
        self.policy_file = self.tmp / "policies.toml"
        self.policy_file.write_text(policies)
        await self._create_database()
        port, ui = free_port(), free_port()
        self.temporal = TemporalDevServer(Settings(
            data_dir=self.tmp, database_url=self.database_url,
            temporal_address=f"127.0.0.1:{port}", temporal_ui_port=ui))
        await self.start_temporal()
        self.start_smtp()
        await self.start_api()
        for _ in range(2):
            self.start_worker()
        client = await self.client()
        await eventually(lambda: self.pollers(client, 2), timeout=90)
        return self

    async def _create_database(self) -> None:
        server = make_url(POSTGRES_SERVER)
        self._admin_url = server.set(drivername="postgresql").render_as_string(
            hide_password=False)
        admin = await asyncpg.connect(self._admin_url, timeout=5)
        try:
            self.database_name = f"crmflow_faults_{uuid.uuid4().hex[:10]}"
            await admin.execute(f'CREATE DATABASE "{self.database_name}"')
        finally:
            await admin.close()
        self.database_url = server.set(database=self.database_name).render_as_string(
            hide_password=False)
        await upgrade_to_head(self.database_url)

    def env(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("CRMFLOW_")}
        return {
            **base,
            "CRMFLOW_DATABASE_URL": self.database_url,
            "CRMFLOW_TEMPORAL_ADDRESS": self.settings.temporal_address,
            "CRMFLOW_SMTP_PORT": str(self.smtp_port),
            "CRMFLOW_SMTP_TIMEOUT_SECONDS": "5",
            "CRMFLOW_POLICY_FILE": str(self.policy_file),
            "CRMFLOW_LOG_FORMAT": "json",
        }

    def sessions(self) -> tuple[db.Sessions, object]:
        engine = db.create_engine(self.database_url)
        return db.create_sessions(engine), engine

    async def client(self) -> Client:
        return await connect(self.settings)

    @staticmethod
    async def pollers(client: Client, wanted: int) -> bool:
        """Whether ``wanted`` workers poll the task queue for workflow tasks."""
        try:
            response = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=client.namespace, task_queue=TaskQueue(name="crmflow"),
                    task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW))
        except Exception:
            return False
        return len({p.identity for p in response.pollers}) >= wanted

    # Processes -----------------------------------------------------------------------

    def _spawn(self, name: str, command: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        self._spawned += 1
        log = (self.tmp / f"{self._spawned:02d}-{name}.log").open("wb")
        return subprocess.Popen([str(BIN / "crmflow"), command], env=env, stdout=log,
                                stderr=subprocess.STDOUT)

    async def start_api(self) -> None:
        port = free_port()
        self._api = self._spawn("api", "api", {**self.env(), "CRMFLOW_API_PORT": str(port)})
        self.api_url = f"http://127.0.0.1:{port}"

        async def answers() -> bool:
            try:
                async with httpx.AsyncClient() as http:
                    return (await http.get(f"{self.api_url}/health", timeout=5)).status_code \
                        in (200, 503)
            except httpx.HTTPError:
                return False

        await eventually(answers, timeout=60)

    def start_worker(self) -> subprocess.Popen[bytes]:
        worker = self._spawn("worker", "worker", self.env())
        self.workers.append(worker)
        return worker

    def live_workers(self) -> list[subprocess.Popen[bytes]]:
        return [w for w in self.workers if w.poll() is None]

    def sending(self, worker: subprocess.Popen[bytes]) -> bool:
        """Whether the worker is in the middle of an SMTP conversation."""
        return self.conversations(worker) > 0

    def conversations(self, worker: subprocess.Popen[bytes]) -> int:
        """How many SMTP conversations the worker has open (its email activities run
        several at once)."""
        try:
            connections = psutil.Process(worker.pid).net_connections(kind="tcp")
        except psutil.Error:
            return 0
        return sum(1 for c in connections if c.raddr and c.raddr.port == self.smtp_port)

    async def start_temporal(self) -> None:
        assert self.temporal is not None
        self.temporal.start()
        await self.temporal.wait_until_ready(timeout=90)

    def kill_temporal(self) -> None:
        assert self.temporal is not None
        self.temporal.kill()

    def start_smtp(self) -> None:
        self._smtp_controller = Controller(self.smtp, hostname="127.0.0.1",
                                           port=self.smtp_port, ready_timeout=10)
        self._smtp_controller.start()

    def stop_smtp(self) -> None:
        if self._smtp_controller is not None:
            self._smtp_controller.stop()
            self._smtp_controller = None

    # The database ---------------------------------------------------------------------

    async def refuse_database_connections(self) -> int:
        """PostgreSQL refuses every new connection to the scratch database and drops those
        open: the number dropped."""
        admin = await asyncpg.connect(self._admin_url, timeout=10)
        try:
            await admin.execute(
                f'ALTER DATABASE "{self.database_name}" ALLOW_CONNECTIONS false')
            return len(await admin.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                self.database_name))
        finally:
            await admin.close()

    async def allow_database_connections(self) -> None:
        admin = await asyncpg.connect(self._admin_url, timeout=10)
        try:
            await admin.execute(f'ALTER DATABASE "{self.database_name}" ALLOW_CONNECTIONS true')
        finally:
            await admin.close()

    # Tearing down ----------------------------------------------------------------------

    async def close(self) -> None:
        processes = [p for p in [self._api, *self.workers] if p is not None]
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                await asyncio.to_thread(process.wait, 20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.stop_smtp()
        if self.temporal is not None:
            await self.temporal.stop(timeout=10)
        if self.database_name:
            admin = await asyncpg.connect(self._admin_url, timeout=10)
            try:
                with contextlib.suppress(asyncpg.PostgresError):
                    await admin.execute(
                        f'ALTER DATABASE "{self.database_name}" ALLOW_CONNECTIONS true')
                await admin.execute(f'DROP DATABASE IF EXISTS "{self.database_name}" '
                                    "WITH (FORCE)")
            finally:
                await admin.close()

