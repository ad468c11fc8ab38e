"""The stack a benchmark run measures, started and stopped by the bench itself.

One Temporal dev server (SQLite file in WAL mode, crmflow's search attributes), one CRM
database (a SQLite file, or a scratch PostgreSQL database created and dropped), crmflow's
SMTP sink (timed), ``crmflow api`` and ``crmflow worker`` as separate processes configured
as in production (``CRMFLOW_*``), the bare reference worker (``bench.bare``) on its own task
queue of the same server, the floor's worker and API (``bench.floor``: the same work done as
leanly as it can be done correctly, on the same server, database and SMTP sink), and a no-op
FastAPI app (``bench.noop_app``).

Everything listens on loopback, on free ports, with its files in a temporary folder; it is
all stopped (and the scratch database dropped) when the ``running_stack`` block ends, by an
error or Ctrl-C too.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import psutil
from sqlalchemy.engine import make_url
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from bench.bare import TASK_QUEUE as BARE_QUEUE
from bench.floor.flows import TASK_QUEUE as FLOOR_QUEUE
from bench.probes import Arrivals, TimedMailSink, listen_for_reports, start_timed_mail_sink
from bench.processes import Part, StackError, free_port, spawn, stop_all, tail
from bench.seed import People, seed_people
from crm.migrate import upgrade_to_head
from crmflow.dev_stack import CLI_TYPE_NAMES, temporal_binary
from workflows import search_attributes

BIN = Path(sys.executable).parent
CRMFLOW_QUEUE = "crmflow"
NAMESPACE = "default"
READY_TIMEOUT = 90.0
FLOOR_STEP_DELAY = 3 * 86400
"""A floor lead waits as long as crmflow's between nurturing emails (3 days)."""


class NoPostgres(StackError):
    """No PostgreSQL server answers: ``--database both`` goes on with SQLite alone."""


@dataclass
class Stack:
    """A running stack: addresses, clients, probes, and the processes to measure."""

    database: str
    """``sqlite`` or ``postgresql``."""
    database_url: str
    workdir: Path
    temporal_address: str
    api_url: str
    noop_url: str
    floor_url: str
    client: Client
    mail: TimedMailSink
    reports: Arrivals
    people: People
    parts: dict[str, Part] = field(default_factory=dict)
    profile_dir: Path | None = None

    def rss(self, name: str) -> int:
        return self.parts[name].rss()

    def check_alive(self) -> None:
        for part in self.parts.values():
            part.check_alive()

    async def hold(self, name: str) -> None:
        """Freeze the worker (SIGSTOP): work for it piles up on the server, as while a worker
        is away; released, it finds it all at once. Never frozen inside a database
        transaction, which would lock out the API and the bench meanwhile."""
        process = psutil.Process(self.parts[name].pid)
        for _ in range(50):
            process.suspend()
            if name not in ("worker", "floor-worker") or await self._no_transaction_open():
                return
            process.resume()
            await asyncio.sleep(0.2)
        raise StackError(f"{name} could not be held outside a database transaction")

    def release(self, name: str) -> None:
        psutil.Process(self.parts[name].pid).resume()

    @asynccontextmanager
    async def held(self, name: str) -> AsyncIterator[None]:
        """The worker held for the block (see ``hold``)."""
        await self.hold(name)
        try:
            yield
        finally:
            self.release(name)

    async def _no_transaction_open(self) -> bool:
        url = make_url(self.database_url)
        if url.get_backend_name() == "sqlite":
            def write_lock_free() -> bool:
                with contextlib.closing(sqlite3.connect(str(url.database), timeout=1)) as c:
                    try:
                        c.execute("BEGIN IMMEDIATE")
                    except sqlite3.OperationalError:
                        return False
                    c.rollback()
                    return True

            return await asyncio.to_thread(write_lock_free)
        plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
        connection = await asyncpg.connect(plain, timeout=5)
        try:
            open_elsewhere = await connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL")
        finally:
            await connection.close()
        return not open_elsewhere

    async def unstick_api(self, patience: float = 2.0) -> bool:
        """Make sure the API answers ``/health`` within a second; a measure may have left it
        stuck on its database pool, for as long as its timeouts (30 s), so after
        ``patience`` seconds it is restarted. True if it had to be."""
        deadline = time.monotonic() + patience
        async with httpx.AsyncClient(timeout=1.0) as http:
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{self.api_url}/health")).status_code == 200:
                        return False
                await asyncio.sleep(0.3)
        stuck = self.parts["api"]
        stop_all([stuck], patience=1.0)  # it would wait for its stuck requests
        self.parts["api"] = spawn("api", stuck.argv, stuck.env, self.workdir)
        await _answering(f"{self.api_url}/health", self.parts["api"])
        return True

    async def settle(self, timeout: float = 30.0) -> bool:
        """Wait until the stack is idle (every process under 15 % of a core for a second),
        so one measure's tail does not load the next; False if it never got there."""
        processes = [psutil.Process(p.pid) for n, p in self.parts.items() if n != "noop"]
        for process in processes:
            process.cpu_percent(None)
        quiet, deadline = 0, time.monotonic() + timeout
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            busiest = max(process.cpu_percent(None) for process in processes)
            quiet = quiet + 1 if busiest < 15 else 0
            if quiet >= 2:
                return True
        return False

    @asynccontextmanager
    async def profiled(self, label: str, *names: str) -> AsyncIterator[None]:
        """With ``--profile``: py-spy records these processes, and the processes they run
        (the API's), for the block (speedscope files in the profile folder). Without it:
        nothing."""
        if self.profile_dir is None:
            yield
            return
        spies = []
        for name in names:
            out = self.profile_dir / f"{self.database}-{label}-{name}.speedscope.json"
            spies.append(await asyncio.create_subprocess_exec(
                str(BIN / "py-spy"), "record", "--pid", str(self.parts[name].pid),
                "--subprocesses", "--rate", "50", "--nonblocking", "--format", "speedscope",
                "-o", str(out),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        try:
            yield
        finally:
            for spy in spies:
                if spy.returncode is None:  # it ends by itself with its process (a restart)
                    with contextlib.suppress(ProcessLookupError):
                        spy.send_signal(signal.SIGINT)
            for spy in spies:
                try:
                    await asyncio.wait_for(spy.wait(), 30)
                except TimeoutError:
                    spy.kill()


@asynccontextmanager
async def crm_database(database: str, workdir: Path, postgres_server: str,
                       ) -> AsyncIterator[str]:
    """A fresh, migrated CRM database: a SQLite file, or a scratch PostgreSQL database."""
    if database == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / 'crm.db'}"
        await upgrade_to_head(url)
        yield url
        return
    server = make_url(postgres_server)
    plain = server.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        admin = await asyncpg.connect(plain, timeout=5)
    except (OSError, asyncpg.PostgresError) as error:
        raise NoPostgres(f"no PostgreSQL server answers at {postgres_server}: {error}") from None
    name = f"crmflow_bench_{uuid.uuid4().hex[:10]}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = server.set(database=name).render_as_string(hide_password=False)
        await upgrade_to_head(url)
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def temporal_command(workdir: Path, port: int) -> list[str]:
    command = [
        temporal_binary(), "server", "start-dev", "--headless",
        "--db-filename", str(workdir / "temporal.db"),
        "--ip", "127.0.0.1", "--port", str(port), "--namespace", NAMESPACE,
        "--sqlite-pragma", "journal_mode=WAL", "--sqlite-pragma", "synchronous=NORMAL",
        "--log-level", "warn",
    ]
    for key in search_attributes.ALL:
        kind = CLI_TYPE_NAMES[key.indexed_value_type.name]
        command += ["--search-attribute", f"{key.name}={kind}"]
    return command


def crmflow_env(stack_url: str, temporal: str, smtp_port: int, api_port: int,
                workdir: Path, api_processes: int) -> dict[str, str]:
    """The environment of ``crmflow api`` and ``crmflow worker``, as in production."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("CRMFLOW_")}
    return {
        **base,
        "CRMFLOW_DATA_DIR": str(workdir),
        "CRMFLOW_DATABASE_URL": stack_url,
        "CRMFLOW_TEMPORAL_ADDRESS": temporal,
        "CRMFLOW_TEMPORAL_NAMESPACE": NAMESPACE,
        "CRMFLOW_TEMPORAL_TASK_QUEUE": CRMFLOW_QUEUE,
        "CRMFLOW_SMTP_HOST": "127.0.0.1",
        "CRMFLOW_SMTP_PORT": str(smtp_port),
        "CRMFLOW_API_HOST": "127.0.0.1",
        "CRMFLOW_API_PORT": str(api_port),
        "CRMFLOW_API_PROCESSES": str(api_processes),
        "CRMFLOW_LOG_FORMAT": "json",
        # The API refreshes stale planner statistics every minute; the reads measure
        # writes 100,000 rows at once, then reads them as a CRM that has run for a while.
        "CRMFLOW_DATABASE_STATISTICS_SECONDS": "5",
    }


async def _until(what: str, check: object, part: Part | None, timeout: float) -> None:
    """Poll ``check()`` (an async callable answering True when ready)."""
    deadline = time.monotonic() + timeout
    while True:
        if part is not None:
            part.check_alive()
        try:
            if await check():  # type: ignore[operator]
                return
        except Exception:  # not answering yet
            pass
        if time.monotonic() > deadline:
            raise StackError(f"{what} not ready within {timeout:.0f} s"
                             + (f"; see {part.log}:\n{tail(part.log)}" if part else ""))
        await asyncio.sleep(0.2)


async def _connect(address: str, temporal: Part) -> Client:
    clients: list[Client] = []

    async def connected() -> bool:
        client = await Client.connect(address, namespace=NAMESPACE,
                                      data_converter=pydantic_data_converter)
        await client.service_client.check_health()
        clients.append(client)
        return True

    await _until("the Temporal dev server", connected, temporal, READY_TIMEOUT)
    return clients[0]


async def _polling(client: Client, queue: str, part: Part) -> None:
    async def polled() -> bool:
        described = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
            namespace=NAMESPACE, task_queue=TaskQueue(name=queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW))
        return bool(described.pollers)

    await _until(f"{part.name} (polling {queue})", polled, part, READY_TIMEOUT)


async def _answering(url: str, part: Part) -> None:
    async def answered() -> bool:
        async with httpx.AsyncClient(timeout=2) as http:
            return (await http.get(url)).status_code == 200

    await _until(f"{part.name} ({url})", answered, part, READY_TIMEOUT)


@asynccontextmanager
async def running_stack(
    database: str, *, postgres_server: str, profile_dir: Path | None = None,
    keep: bool = False, api_processes: int = 1, workers: int = 1,
) -> AsyncIterator[Stack]:
    """Start the whole stack for one CRM database; stop all of it when the block ends.
    ``workers``: how many ``crmflow worker`` processes (the measures hold the first)."""
    async with AsyncExitStack() as exits:
        workdir = Path(tempfile.mkdtemp(prefix=f"crmflow-bench-{database}-"))
        if not keep:
            exits.callback(shutil.rmtree, workdir, ignore_errors=True)
        parts: dict[str, Part] = {}
        exits.callback(lambda: stop_all(list(parts.values())))
        temporal_port, api_port, noop_port, smtp_port, udp_port, floor_port = (
            free_port() for _ in range(6))
        address = f"127.0.0.1:{temporal_port}"
        parts["temporal"] = spawn("temporal", temporal_command(workdir, temporal_port),
                                  dict(os.environ), workdir)

        url = await exits.enter_async_context(crm_database(database, workdir, postgres_server))
        people = await seed_people(url)
        controller, mail = start_timed_mail_sink(smtp_port)
        exits.callback(controller.stop)
        transport, reports = await listen_for_reports(udp_port)
        exits.callback(transport.close)
        client = await _connect(address, parts["temporal"])

        env = crmflow_env(url, address, smtp_port, api_port, workdir, api_processes)
        parts["api"] = spawn("api", [str(BIN / "crmflow"), "api"], env, workdir)
        parts["worker"] = spawn("worker", [str(BIN / "crmflow"), "worker"], env, workdir)
        for n in range(2, workers + 1):  # the scaling run's (``bench.scaling``)
            parts[f"worker-{n}"] = spawn(f"worker-{n}", [str(BIN / "crmflow"), "worker"], env,
                                         workdir)
        parts["bare"] = spawn("bare", [sys.executable, "-m", "bench.bare", "--address", address,
                                       "--reports", str(udp_port)], dict(os.environ), workdir)
        parts["noop"] = spawn("noop", [
            sys.executable, "-m", "uvicorn", "bench.noop_app:app", "--host", "127.0.0.1",
            "--port", str(noop_port), "--no-access-log", "--log-level", "warning",
        ], dict(os.environ), workdir)
        floor_env = {**os.environ, "FLOOR_DATABASE_URL": url, "FLOOR_TEMPORAL_ADDRESS": address,
                     "FLOOR_STEP_DELAY_SECONDS": str(FLOOR_STEP_DELAY)}
        parts["floor-worker"] = spawn("floor-worker", [
            sys.executable, "-m", "bench.floor.worker", "--address", address,
            "--database-url", url, "--smtp-port", str(smtp_port)], floor_env, workdir)
        parts["floor-api"] = spawn("floor-api", [
            sys.executable, "-m", "uvicorn", "bench.floor.app:app", "--host", "127.0.0.1",
            "--port", str(floor_port), "--workers", str(api_processes), "--no-access-log",
            "--log-level", "warning"], floor_env, workdir)
        api_url, noop_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{noop_port}"
        floor_url = f"http://127.0.0.1:{floor_port}"
        await asyncio.gather(
            _answering(f"{api_url}/health", parts["api"]),
            _answering(f"{noop_url}/noop", parts["noop"]),
            _answering(f"{floor_url}/health", parts["floor-api"]),
            _polling(client, CRMFLOW_QUEUE, parts["worker"]),
            _polling(client, BARE_QUEUE, parts["bare"]),
            _polling(client, FLOOR_QUEUE, parts["floor-worker"]),
        )
        yield Stack(database, url, workdir, address, api_url, noop_url, floor_url, client, mail,
                    reports, people, parts, profile_dir)
