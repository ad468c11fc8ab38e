"""Recorded scenarios of SimulationRun, a simulation asked through the API."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import WorkflowHandle

from crm import db
from crm.models import Simulation
from simulation.cases import Selection
from simulation.service import ASKED, Asked
from tests.histories.world import Scenario, World
from tests.simulation.cases import LAST_QUARTER, Decision, past_quote
from workflows.simulation_run import SimulationRun, SimulationToRun, workflow_id


async def two_quotes_under_a_shorter_timeout(world: World) -> WorkflowHandle:
    team = world.team
    await past_quote(world.sessions, team, "25", LAST_QUARTER)
    await past_quote(world.sessions, team, "30", LAST_QUARTER + timedelta(days=1),
                     Decision(timedelta(days=3), "rejected", team.manager, "too much"))
    asked = Asked("quote_approval", {"approval_timeout": "P2D"}, Selection(since=LAST_QUARTER))
    async with db.unit_of_work(world.sessions) as session:
        row = Simulation(process="quote_approval",
                         request=ASKED.dump_python(asked, mode="json"))
        session.add(row)
    handle = await world.env.client.start_workflow(
        SimulationRun.run, SimulationToRun(row.id), id=workflow_id(row.id),
        task_queue=world.task_queue)
    assert await handle.result() == "done"
    return handle


SCENARIOS: dict[str, Scenario] = {
    "two-quotes-under-a-shorter-timeout": two_quotes_under_a_shorter_timeout,
}
