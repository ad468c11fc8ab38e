"""``crmflow processes versions``: per patch, the open runs that predate it, counted by
Temporal's visibility on the real dev server."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import uuid
from collections.abc import Awaitable
from datetime import date
from pathlib import Path

from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from crm.patch_census import PatchCensus, census
from tests.conftest import fresh_namespace
from tests.waiting import eventually
from tests.workflows.patched_process import GREETING, AfterThePatch, BeforeThePatch
from workflows.patches import PATCHES

ROOT = Path(__file__).resolve().parent.parent


async def start(client: Client, build: type, queue: str) -> WorkflowHandle:  # type: ignore[type-arg]
    async with Worker(client, task_queue=queue, workflows=[build]):
        handle = await client.start_workflow("PatchedProcess", id=f"run-{uuid.uuid4().hex}",
                                             task_queue=queue)
        await eventually(lambda: _ran_a_task(handle))
    return handle


async def _ran_a_task(handle: WorkflowHandle) -> bool:  # type: ignore[type-arg]
    history = await handle.fetch_history()
    return any(e.HasField("workflow_task_completed_event_attributes") for e in history.events)


async def test_the_runs_before_a_patch_are_counted_until_they_end(
    dev_server: WorkflowEnvironment,
) -> None:
    client = Client(dev_server.client.service_client, namespace=await fresh_namespace(dev_server),
                    data_converter=pydantic_data_converter)
    before = await start(client, BeforeThePatch, "before")
    after = await start(client, AfterThePatch, "after")

    greeting = dataclasses.replace(GREETING, since=date.today())  # deployed today

    def counted() -> Awaitable[list[PatchCensus]]:
        return census(client, (greeting,))

    [found] = await eventually(lambda: _settled(counted(), predating=1, carrying=1))
    assert found.advice == "keep it: runs from before it are open"

    await before.terminate("ended")
    [found] = await eventually(lambda: _settled(counted(), predating=0, carrying=1))
    assert found.advice.startswith("may be deprecated")
    deprecated = dataclasses.replace(greeting, deprecated=True)
    [found] = await census(client, (deprecated,))
    assert found.advice == "keep the deprecated call: runs that took it are open"

    await after.terminate("ended")
    [found] = await eventually(lambda: _settled(census(client, (deprecated,)), predating=0,
                                                carrying=0))
    assert found.advice == "may be removed: no open run predates it or carries it"


async def _settled(counting: Awaitable[list[PatchCensus]], *, predating: int,
                   carrying: int) -> list[PatchCensus]:
    counted = await counting
    return counted if [(c.predating, c.carrying) for c in counted] == [(predating, carrying)] \
        else []


async def test_the_command_counts_each_registered_patch(dev_server: WorkflowEnvironment) -> None:
    env = {**os.environ,
           "CRMFLOW_TEMPORAL_ADDRESS": dev_server.client.service_client.config.target_host,
           "CRMFLOW_TEMPORAL_NAMESPACE": await fresh_namespace(dev_server)}
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "crmflow.cli", "processes", "versions"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    # A namespace of its own: no run is open, so each patch may be deprecated.
    assert (done.returncode, done.stdout) == (0, "".join(
        f"{patch.id} (since {patch.since}; {', '.join(patch.workflow_types)}): 0 open runs "
        f"predate it, 0 carry it: may be deprecated (workflow.deprecate_patch): no open run "
        f"predates it\n" for patch in PATCHES)), done.stderr
    assert PATCHES, "the register's first patch: ticket-breaches-kept"


def test_processes_take_patches_only_through_the_register() -> None:
    """A process calls ``workflows.patches.patched(PATCH)``, never ``workflow.patched``: so
    every patch in the code is in the register the census counts."""
    calls = ("workflow.patched(", "workflow.deprecate_patch(")
    direct = [path.name for path in (ROOT / "workflows").glob("*.py")
              if path.name != "patches.py" and any(c in path.read_text() for c in calls)]
    assert direct == []
