"""Running a simulation asked through the API (``workflows.simulation_run``): at most the
policy's ``at_once`` on this worker at a time, the others waiting their turn (heartbeating,
so Temporal knows they are alive); its progress and result written to its row."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from temporalio import activity

from crm import db
from crm.errors import CrmError
from crm.models import Simulation
from crm.models.base import utcnow
from crm.policies import PolicyStore
from simulation.service import ASKED, Refused, simulate
from workflows.simulation_run import RUN_SIMULATION, SimulationToRun

HEARTBEAT_EVERY = 10.0


class SimulationActivities:
    def __init__(self, sessions: db.Sessions, policies: PolicyStore) -> None:
        self.sessions = sessions
        self.policies = policies
        self._turns: asyncio.Semaphore | None = None

    @activity.defn(name=RUN_SIMULATION)
    async def run_simulation(self, asked: SimulationToRun) -> str:
        policies = self.policies.current()
        if self._turns is None:
            self._turns = asyncio.Semaphore(policies.simulation.at_once)
        async with _beating(), self._turns:
            return await self._run(asked.simulation_id, policies)

    async def _run(self, simulation_id: int, policies: object) -> str:
        async with db.unit_of_work(self.sessions) as session:
            row = await session.get(Simulation, simulation_id)
            if row is None or row.status in ("done", "failed"):
                return row.status if row else "gone"
            row.status, row.cases_done = "running", 0
            request = ASKED.validate_python(row.request)

        async def progress(done: int, total: int) -> None:
            async with db.unit_of_work(self.sessions) as session:
                found = await session.get(Simulation, simulation_id)
                assert found is not None
                found.cases_done, found.cases_total = done, total

        try:
            result = await simulate(self.sessions, request, policies,  # type: ignore[arg-type]
                                    progress)
        except (Refused, CrmError) as error:
            return await self._end(simulation_id, "failed", error=str(error))
        return await self._end(simulation_id, "done", result=result)

    async def _end(self, simulation_id: int, status: str, *, error: str | None = None,
                   result: dict[str, object] | None = None) -> str:
        async with db.unit_of_work(self.sessions) as session:
            row = await session.get(Simulation, simulation_id)
            assert row is not None
            row.status, row.error, row.result, row.finished_at = (status, error, result,
                                                                  utcnow())
        return status


@contextlib.asynccontextmanager
async def _beating() -> AsyncIterator[None]:
    """Heartbeat while the simulation waits its turn and runs."""
    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(HEARTBEAT_EVERY)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
