"""A scheduled trigger's run: the Temporal Schedule of a definition whose trigger is
``when: schedule`` (``definition-{id}-schedule``, kept by ``crm.own.schedules``) starts one
at each of its times; it enrols the objects that meet the definition's condition then."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow

from workflows import steps
from workflows.own.contracts import ENROL_SCHEDULED


@dataclass
class ScheduledRun:
    definition_id: int


@workflow.defn(name="ScheduledEnrolments")
class ScheduledEnrolments:
    @workflow.run
    async def run(self, data: ScheduledRun) -> int:
        """How many objects this run enrolled."""
        enrolled: int = await workflow.execute_activity(
            ENROL_SCHEDULED, data.definition_id, result_type=int,
            start_to_close_timeout=timedelta(minutes=10),
            retry_policy=steps.RETRY_FOREVER_GENTLY,
            summary=f"Enrol what meets workflow definition {data.definition_id}'s condition")
        return enrolled
