"""Replaying histories as a worker does: every workflow, the pydantic converter, the worker's
sandbox."""

from __future__ import annotations

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from worker.sandbox import workflow_runner
from workflows.registry import WORKFLOWS


def worker_replayer() -> Replayer:
    """A replayer that decides as today's worker would."""
    return Replayer(workflows=list(WORKFLOWS), data_converter=pydantic_data_converter,
                    workflow_runner=workflow_runner())
