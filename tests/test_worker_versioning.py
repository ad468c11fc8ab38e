"""Worker Versioning as ``crmflow worker`` configures it, on the real dev server: a rolling
deploy (a new build made current with the ``temporal`` CLI) sends new processes to the new
build while a process already running stays pinned to the build it started on."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from pathlib import Path

from temporalio.api.enums.v1 import VersioningBehavior
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from crm.settings import Settings
from crmflow import __version__
from tests.conftest import binary, fresh_namespace
from tests.waiting import eventually
from tests.workflows.patched_process import AfterThePatch, BeforeThePatch
from worker.versioning import deployment_config

QUEUE = "crmflow"
ROOT = Path(__file__).resolve().parent.parent


def settings(build: str | None) -> Settings:
    return Settings(worker_deployment="crmflow", worker_build_id=build)


def test_an_unversioned_worker_by_default_and_the_release_as_build_id() -> None:
    assert deployment_config(Settings()) is None
    config = deployment_config(settings(None))
    assert config is not None
    assert (config.version.deployment_name, config.version.build_id) == ("crmflow", __version__)
    assert config.use_worker_versioning


async def set_current(env: WorkflowEnvironment, namespace: str, build: str) -> None:
    """What the compose file's worker-version job does once the new build's workers poll."""
    done = await asyncio.to_thread(
        subprocess.run, ["sh", str(ROOT / "deploy/temporal/set-current-version.sh")],
        env={"PATH": f"{Path(binary('temporal')).parent}:{os.environ['PATH']}",
             "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
             "TEMPORAL_NAMESPACE": namespace, "CRMFLOW_WORKER_DEPLOYMENT": "crmflow",
             "CRMFLOW_WORKER_BUILD_ID": build, "SETUP_ATTEMPTS": "15"},
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith(f"crmflow build {build} is current: new processes start on "
                                f"it\n")


async def pinned_to(handle: WorkflowHandle) -> str:  # type: ignore[type-arg]
    info = (await handle.describe()).raw_description.workflow_execution_info.versioning_info
    assert info.behavior == VersioningBehavior.VERSIONING_BEHAVIOR_PINNED
    return info.deployment_version.build_id


async def start(client: Client) -> WorkflowHandle:  # type: ignore[type-arg]
    handle = await client.start_workflow("PatchedProcess", id=f"run-{uuid.uuid4().hex}",
                                         task_queue=QUEUE)
    await eventually(lambda: _versioned(handle))
    return handle


async def _versioned(handle: WorkflowHandle) -> bool:  # type: ignore[type-arg]
    info = (await handle.describe()).raw_description.workflow_execution_info.versioning_info
    return bool(info.deployment_version.build_id)


async def test_a_rolling_deploy_keeps_running_processes_on_their_build(
    dev_server: WorkflowEnvironment,
) -> None:
    namespace = await fresh_namespace(dev_server)
    client = Client(dev_server.client.service_client, namespace=namespace,
                    data_converter=pydantic_data_converter)
    old = Worker(client, task_queue=QUEUE, workflows=[BeforeThePatch],
                 deployment_config=deployment_config(settings("build-1")))
    new = Worker(client, task_queue=QUEUE, workflows=[AfterThePatch],
                 deployment_config=deployment_config(settings("build-2")))
    async with old:
        await set_current(dev_server, namespace, "build-1")
        running = await start(client)
        assert await pinned_to(running) == "build-1"
        async with new:  # the new build's workers start beside the old ones
            await set_current(dev_server, namespace, "build-2")
            started = await start(client)
            assert await pinned_to(started) == "build-2"
            assert await pinned_to(running) == "build-1"  # drains on the old build
            history = await started.fetch_history()
            assert any(e.HasField("marker_recorded_event_attributes") for e in history.events)
            await running.terminate("test over")
            await started.terminate("test over")
