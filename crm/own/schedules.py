"""The Temporal Schedule of a definition whose trigger is ``when: schedule``: created or
changed when a version with such a trigger is published, removed when one without it is,
or when the definition is archived. Each of its times starts a ``ScheduledEnrolments`` run
(``workflows.own.scheduled``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import (
    Client,
    RPCTimeoutOrCancelledError,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from crm.errors import ServiceUnavailable
from crm.models import WorkflowDefinition
from crm.own import definitions
from crm.policies import Policies
from crm.settings import Settings
from workflows.own.contracts import schedule_id
from workflows.own.definition import DAYS, Definition
from workflows.own.scheduled import ScheduledEnrolments, ScheduledRun


def schedule(definition_id: int, definition: Definition, policies: Policies,
             settings: Settings) -> Schedule:
    """When the trigger's runs come (its days, its time, its calendar's time zone) and what
    each starts. Runs never overlap: one still enrolling makes the next wait its turn."""
    trigger = definition.trigger
    at = trigger.time_of_day()
    assert trigger.when == "schedule" and at is not None
    calendar = policies.own_workflows.calendars[trigger.calendar or "office"]
    days = [ScheduleRange((DAYS.index(day) + 1) % 7) for day in trigger.days or DAYS]
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ScheduledEnrolments.run, ScheduledRun(definition_id),
            id=f"{schedule_id(definition_id)}-run", task_queue=settings.temporal_task_queue),
        spec=ScheduleSpec(
            calendars=[ScheduleCalendarSpec(day_of_week=days, hour=[ScheduleRange(at[0])],
                                            minute=[ScheduleRange(at[1])])],
            time_zone_name=calendar.time_zone),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.BUFFER_ONE),
    )


async def keep(client: Client, settings: Settings, definition_id: int,
               definition: Definition | None, policies: Policies) -> None:
    """Make the definition's schedule match ``definition`` (its active version; None when
    archived): there, with its times, when it has a scheduled trigger; gone otherwise."""
    handle = client.get_schedule_handle(schedule_id(definition_id))
    wanted = definition is not None and definition.trigger.when == "schedule"
    try:
        if not wanted:
            await handle.delete()
        else:
            assert definition is not None
            new = schedule(definition_id, definition, policies, settings)

            def update(_: ScheduleUpdateInput) -> ScheduleUpdate:
                return ScheduleUpdate(schedule=new)

            try:
                await handle.update(update)
            except RPCError as error:
                if error.status != RPCStatusCode.NOT_FOUND:
                    raise
                await client.create_schedule(schedule_id(definition_id), new)
    except (RPCError, RPCTimeoutOrCancelledError) as error:
        if isinstance(error, RPCError) and error.status == RPCStatusCode.NOT_FOUND \
                and not wanted:
            return  # no schedule to remove
        raise ServiceUnavailable(f"the schedule of workflow definition {definition_id} "
                                 f"could not be kept: Temporal does not answer") from error


async def follow(session: AsyncSession, row: WorkflowDefinition, before: Definition | None,
                 policies: Policies, settings: Settings,
                 client: Callable[[], Awaitable[Client]]) -> None:
    """After a publish or an archive (before its commit: Temporal down, neither happens):
    keep the schedule when the version before or the one now active has a scheduled
    trigger. Definitions without one never wait for Temporal here."""
    after = await definitions.active(session=session, row=row) \
        if row.status == "active" else None
    if any(d is not None and d.trigger.when == "schedule" for d in (before, after)):
        await keep(await client(), settings, row.id, after, policies)
