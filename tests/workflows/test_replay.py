"""Recorded histories replay against today's workflow code: a change that would break a
running process fails here. Refresh with ``python -m tests.histories.record``.

Not every recording comes from a scenario: ``InvoiceDunning/queried-while-level-1-was-recorded``
is a run from the worker-kill storm (``tests/e2e/test_faults.py``) that no worker could
replay. A query answered while a local activity ran cut its first workflow task short; on
replay Temporal joins that task to the next one, so ``workflow.now()`` read there is later
than the run saw, and the ladder used to find level 2 not yet due where the run had taken it
(issue 11)."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from tests.replaying import worker_replayer
from tests.workflows.unguarded_change import QuoteApprovalThatWaitsFirst
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
