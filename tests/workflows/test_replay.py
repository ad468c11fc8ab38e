"""Recorded histories replay against today's workflow code: a change that would break a
running process fails here. Record new ones with ``python -m tests.histories.record``; a
recording is deleted only with the patch that kept its shape replaying (``workflows.patches``),
once ``crmflow processes versions`` counts no open run of that shape."""

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
from workflows.own.contracts import READ_OBJECT
from workflows.patches import PATCHES
from workflows.registry import WORKFLOWS

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


READS = {FIND_PEOPLE, READ_OBJECT}
"""The local activities a run may ask for: they only read the CRM."""


def _markers(history: WorkflowHistory, name: str, field: str) -> list[dict[str, object]]:
    found = []
    for event in history.events:
        marker = event.marker_recorded_event_attributes
        if event.HasField("marker_recorded_event_attributes") and marker.marker_name == name:
            found.append(json.loads(marker.details[field].payloads[0].data))
    return found


def test_every_run_asks_for_no_local_activity_but_reads() -> None:
    """A local activity runs before Temporal keeps the workflow task that asked for it: a
    write made that way could outlive a decision the process then did not make."""
    for history in (load(path) for path in RECORDED):
        local = {m["activity_type"] for m in _markers(history, "core_local_activity", "data")}
        assert local <= READS, f"{history.workflow_id} writes from local activities: " \
                               f"{sorted(local - READS)}"


def test_every_patch_a_recording_took_is_registered() -> None:
    registered = {patch.id for patch in PATCHES}
    for history in (load(path) for path in RECORDED):
        taken = {str(m["id"]) for m in _markers(history, "core_patch", "patch-data")}
        assert taken <= registered, f"{history.workflow_id} took unregistered patches: " \
                                    f"{sorted(taken - registered)}"
