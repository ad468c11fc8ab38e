"""A simulation asked through the API, run durably (workflow id ``simulation-{id}``): one
activity on a worker replays the past cases on a time-skipping server of its own and writes
what it found to the simulation's row. A worker lost meanwhile: it is tried once more, from
the start (a simulation changes nothing, so running it again is harmless)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

RUN_SIMULATION = "run_simulation"
"""Replay the simulation's cases and keep its result (or why it failed) in its row."""
LONGEST = timedelta(hours=1, minutes=5)
"""The policy's longest time limit (an hour), and a moment to write the result."""


@dataclass
class SimulationToRun:
    simulation_id: int


@workflow.defn
class SimulationRun:
    @workflow.run
    async def run(self, asked: SimulationToRun) -> str:
        status: str = await workflow.execute_activity(
            RUN_SIMULATION, asked, result_type=str, start_to_close_timeout=LONGEST,
            heartbeat_timeout=timedelta(minutes=1),
            retry_policy=RetryPolicy(maximum_attempts=2),
            summary=f"Simulation {asked.simulation_id}: replay its cases")
        return status


def workflow_id(simulation_id: int) -> str:
    return f"simulation-{simulation_id}"
