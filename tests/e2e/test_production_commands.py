"""The production commands, each alone: `crmflow migrate`, `crmflow users create`,
`crmflow api` (the worker alone runs in test_scale_out)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from tests.conftest import free_port, fresh_namespace
from tests.waiting import eventually

pytestmark = pytest.mark.e2e


def crmflow(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).parent / "crmflow"), *args], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
async def env(dev_server: WorkflowEnvironment, tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CRMFLOW_")}
    return {
        **base,
        "CRMFLOW_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}",
        "CRMFLOW_TEMPORAL_ADDRESS": dev_server.client.service_client.config.target_host,
        "CRMFLOW_TEMPORAL_NAMESPACE": await fresh_namespace(dev_server),
        "CRMFLOW_API_PORT": str(free_port()),
        "CRMFLOW_API_METRICS_PORT": str(free_port()),
        "CRMFLOW_LOG_FORMAT": "json",
    }


@contextmanager
def serving(env: dict[str, str], tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``crmflow api`` running, stopped as a service manager stops it (SIGTERM)."""
    log = (tmp_path / "api.log").open("w")
    process = subprocess.Popen([str(Path(sys.executable).parent / "crmflow"), "api"], env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


@pytest.fixture
def api(env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    with serving(env, tmp_path):
        yield f"http://127.0.0.1:{env['CRMFLOW_API_PORT']}"


def migrated_with_an_admin(env: dict[str, str]) -> str:
    """The database migrated and an admin made; their API token."""
    assert crmflow("migrate", env=env).returncode == 0
    return crmflow("users", "create", "--name", "Ops", "--email", "ops@x.example",
                   "--role", "admin", env=env).stdout.strip()


async def scraped(env: dict[str, str]) -> str:
    """What the API's metrics port serves."""
    async with httpx.AsyncClient() as client:
        port = env["CRMFLOW_API_METRICS_PORT"]
        return (await client.get(f"http://127.0.0.1:{port}/metrics")).text


async def test_migrate_and_create_users(env: dict[str, str]) -> None:
    migrated = crmflow("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    assert "newest schema" in migrated.stderr
    assert crmflow("migrate", env=env).returncode == 0  # again: nothing to do

    created = crmflow("users", "create", "--name", "Ops", "--email", "ops@x.example",
                      "--role", "admin", env=env)
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip().startswith("crm_")
    twice = crmflow("users", "create", "--name", "Ops", "--email", "ops@x.example",
                    "--role", "admin", env=env)
    assert twice.returncode == 1
    assert "a user with email ops@x.example already exists" in twice.stderr
    unknown = crmflow("users", "create", "--name", "Sue", "--email", "sue@x.example",
                      "--role", "support_agent", "--skill", "billing", "--skill", "sim_cards",
                      env=env)
    assert unknown.returncode == 2
    assert "--skill sim_cards: not a ticket category of the support policy" in unknown.stderr
    agent = crmflow("users", "create", "--name", "Sue", "--email", "sue@x.example",
                    "--role", "support_agent", "--skill", "billing", env=env)
    assert agent.returncode == 0, agent.stderr  # the refused one made nobody

    revoked = crmflow("users", "revoke", "--email", "ops@x.example", env=env)
    assert revoked.returncode == 0, revoked.stderr
    assert "revoked 1 token(s) of ops@x.example" in revoked.stderr


async def test_the_api_alone_answers_health_tokens_and_metrics(
    env: dict[str, str], api: str
) -> None:
    token = migrated_with_an_admin(env)
    health = await eventually(lambda: _get(f"{api}/health"), timeout=30)
    assert health.json() == {"status": "ok", "database": "ok", "temporal": "ok"}
    async with httpx.AsyncClient() as client:
        me = await client.get(f"{api}/me", headers={"Authorization": f"Bearer {token}"})
    metrics = await scraped(env)
    assert me.json()["email"] == "ops@x.example"
    assert 'crmflow_api_requests_total{method="GET",route="/me",status="200"} 1.0' in metrics


async def test_several_api_processes_share_the_port_replace_the_dead_and_sum_their_metrics(
    env: dict[str, str], tmp_path: Path
) -> None:
    token = migrated_with_an_admin(env)
    api = f"http://127.0.0.1:{env['CRMFLOW_API_PORT']}"

    async def me() -> httpx.Response:  # a connection each: the processes take turns
        async with httpx.AsyncClient() as client:
            return await client.get(f"{api}/me", headers={"Authorization": f"Bearer {token}"})

    with serving({**env, "CRMFLOW_API_PROCESSES": "2"}, tmp_path) as supervisor:
        await eventually(lambda: _get(f"{api}/health"), timeout=30)
        first = _children(supervisor.pid)
        assert len(first) == 2
        before = await asyncio.gather(*(me() for _ in range(12)))

        os.kill(first[0], signal.SIGKILL)
        replaced = await eventually(lambda: _replaced(supervisor.pid, first[0]), timeout=30)
        await eventually(lambda: _get(f"{api}/health"), timeout=30)
        after = await asyncio.gather(*(me() for _ in range(12)))
        metrics = await scraped(env)
    assert {answer.status_code for answer in [*before, *after]} == {200}
    # Every answer counted once, the dead process's too.
    assert 'crmflow_api_requests_total{method="GET",route="/me",status="200"} 24.0' in metrics
    assert supervisor.returncode == 0
    assert not any(Path(f"/proc/{pid}").exists() for pid in [*first, *replaced])


async def _replaced(supervisor: int, dead: int) -> list[int] | None:
    children = _children(supervisor)
    return children if len(children) == 2 and dead not in children else None


def _children(pid: int) -> list[int]:
    """The processes serving under the supervisor (not multiprocessing's resource tracker)."""
    tasks = Path(f"/proc/{pid}/task").iterdir()
    children = [int(child) for task in tasks for child in (task / "children").read_text().split()]
    return [child for child in children
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()]


def test_invalid_settings_are_refused_with_a_clear_message(env: dict[str, str]) -> None:
    refused = crmflow("migrate", env={**env, "CRMFLOW_ENVIRONMENT": "production"})
    assert refused.returncode == 2
    assert "CRMFLOW_DATABASE_URL must name a PostgreSQL database" in refused.stderr


async def _get(url: str) -> httpx.Response | None:
    try:
        async with httpx.AsyncClient() as client:
            return await client.get(url, timeout=5)
    except httpx.HTTPError:
        return None


DEFINITION = """
name: Welcome
object: lead
templates:
  hello: {subject: "Hello {lead.name}", body: "Welcome."}
steps:
  - {id: hello, send_email: {template: hello}}
  - {id: pause, wait: {for: 2d, calendar: office}}
"""


def test_workflow_definitions_kept_as_files_are_validated_and_published(
    env: dict[str, str], tmp_path: Path,
) -> None:
    good, bad = tmp_path / "welcome.yaml", tmp_path / "broken.yaml"
    good.write_text(DEFINITION)
    bad.write_text(DEFINITION.replace("template: hello", "template: bye")
                   .replace("calendar: office", "calendar: moon"))

    valid = crmflow("workflows", "validate", str(good), env=env)
    assert valid.returncode == 0, valid.stderr
    assert valid.stdout.strip() == f"{good}: valid — 'Welcome', 2 steps on a lead"
    refused = crmflow("workflows", "validate", str(bad), env=env)
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [
        f"{bad}: step 'hello': template: no template 'bye' in this definition (it has hello)",
        f"{bad}: step 'pause': calendar: no calendar 'moon' (calendars: office)",
    ]

    migrated_with_an_admin(env)
    first = crmflow("workflows", "publish", str(good), "--by", "ops@x.example", env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "published 'Welcome' as version 1 of workflow definition 1"
    again = crmflow("workflows", "publish", str(good), "--by", "ops@x.example", env=env)
    assert again.stdout.strip() == "published 'Welcome' as version 2 of workflow definition 1"
    nobody = crmflow("workflows", "publish", str(good), "--by", "who@x.example", env=env)
    assert nobody.returncode == 2
    assert "--by who@x.example: no active user with this email" in nobody.stderr
    assert crmflow("workflows", "publish", str(bad), "--by", "ops@x.example",
                   env=env).returncode == 1
