"""Recorded histories replay against today's workflow code: a change that would break a
running process fails here. Refresh with ``python -m tests.histories.record``.

Not every recording comes from a scenario: ``InvoiceDunning/queried-while-level-1-was-recorded``
is a run from the worker-kill storm (``tests/e2e/test_faults.py``) that no worker could
replay. A query answered while a local activity ran cut its first workflow task short; on
replay Temporal joins that task to the next one, so ``workflow.now()`` read there is later
than the run saw, and the ladder used to find level 2 not yet due where the run had taken it
(issue 11)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from tests.replaying import worker_replayer
from tests.workflows.unguarded_change import QuoteApprovalThatWaitsFirst
from workflows.contracts import FIND_PEOPLE
from workflows.registry import WORKFLOWS
from workflows.steps import SCHEDULED_WRITES
from workflows.support_types import ROUTE_TICKET

HISTORIES = Path(__file__).resolve().parent.parent / "histories"
RECORDED = sorted(HISTORIES.glob("*/*.json"))


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(f"{path.parent.name}/{path.stem}", path.read_text())


def test_every_workflow_has_recorded_histories() -> None:
    recorded = {path.parent.name for path in RECORDED}
    assert {w.__name__ for w in WORKFLOWS} <= recorded


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: f"{p.parent.name}/{p.stem}")
async def test_recorded_history_replays(path: Path) -> None:
    await worker_replayer().replay_workflow(load(path))


async def test_an_unguarded_change_is_caught() -> None:
    replayer = Replayer(workflows=[QuoteApprovalThatWaitsFirst],
                        data_converter=pydantic_data_converter)
    path = next(p for p in RECORDED if p.parent.name == "QuoteApproval")
    with pytest.raises(NondeterminismError):
        await replayer.replay_workflow(load(path))


READS = {FIND_PEOPLE, ROUTE_TICKET}
"""The local activities a run may ask for: they only read the CRM."""


def _markers(history: WorkflowHistory, name: str, field: str) -> list[dict[str, object]]:
    found = []
    for event in history.events:
        marker = event.marker_recorded_event_attributes
        if event.HasField("marker_recorded_event_attributes") and marker.marker_name == name:
            found.append(json.loads(marker.details[field].payloads[0].data))
    return found


def test_a_run_since_scheduled_writes_asks_for_no_local_activity_but_reads() -> None:
    """A local activity runs before Temporal keeps the workflow task that asked for it: a
    write made that way could outlive a decision the process then did not make."""
    recorded = [load(path) for path in RECORDED]
    since = [h for h in recorded
             if {"id": SCHEDULED_WRITES, "deprecated": False}
             in _markers(h, "core_patch", "patch-data")]
    assert {h.workflow_id.split("/")[0] for h in since} >= {w.__name__ for w in WORKFLOWS}
    for history in since:
        local = {m["activity_type"] for m in _markers(history, "core_local_activity", "data")}
        assert local <= READS, f"{history.workflow_id} writes from local activities: " \
                               f"{sorted(local - READS)}"
    before = [h for h in recorded if h not in since]
    assert any({m["activity_type"] for m in _markers(h, "core_local_activity", "data")} - READS
               for h in before), "the older recordings show writes as local activities"
