"""Steps every process is made of: record a status, send an email, create a task, wait.

Every write to the CRM goes through :func:`write`: an activity Temporal schedules, so the
write happens only once the decision that asks for it is kept in the process's history.

Each one is a small coroutine a workflow awaits; together they keep the workflow modules
reading like the process itself, and the Temporal UI timeline reading like the story
(every activity and timer carries a summary).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows.contracts import (
    CREATE_TASK,
    RECORD_STATUS,
    SEND_EMAIL,
    CreatedTask,
    EmailOutcome,
    EmailToSend,
    StatusToRecord,
    TaskToCreate,
)
from workflows.search_attributes import CRM_STATUS

DATABASE_WRITE = timedelta(seconds=30)
"""How long a local activity may take: a read, or a write of a run from before
:data:`SCHEDULED_WRITES`."""
CRM_WRITE = timedelta(seconds=10)
"""How long one attempt of a CRM write may take: a write held by a worker that died is tried
again this soon, by another worker."""
SMTP_CONVERSATION = timedelta(minutes=2)
EMAIL_HEARTBEAT = timedelta(seconds=15)
"""The email activity heartbeats while it talks SMTP: a dead worker is noticed this fast."""
RETRY_FOREVER_GENTLY = RetryPolicy(maximum_interval=timedelta(minutes=5))

SCHEDULED_WRITES = "scheduled-crm-writes"
"""Patch id: runs started before 2026-11-24 wrote to the CRM from local activities, which run
before Temporal keeps the workflow task that asked for them. A worker that died after such a
write and before the task was kept left the write behind; the retried task could take a
message first and go another way, so the CRM kept a change the process never made. Their
recorded writes replay as local activities; every run since schedules its writes."""

Result = TypeVar("Result")


async def write(activity: str, argument: Any, *, summary: str,
                result_type: type[Result] | None = None) -> Result:
    """Write to the CRM as the process decided: by an activity Temporal schedules, so the
    write happens only once the decision that asks for it is durable. Each activity writes
    once per business key, however often it is tried."""
    if workflow.patched(SCHEDULED_WRITES):
        return await workflow.execute_activity(
            activity, argument, result_type=result_type,
            start_to_close_timeout=CRM_WRITE, retry_policy=RETRY_FOREVER_GENTLY,
            summary=summary[:200],
        )
    return await workflow.execute_local_activity(
        activity, argument, result_type=result_type,
        start_to_close_timeout=DATABASE_WRITE, retry_policy=RETRY_FOREVER_GENTLY,
        summary=summary[:200],
    )


async def record_status(
    object_type: str,
    object_id: int,
    to_status: str,
    reason: str,
    *,
    by_user_id: int | None = None,
    holds_until: datetime | None = None,
    event: str | None = None,
) -> None:
    """Write the status change to the CRM history and show it on the process (CrmStatus).

    ``event`` names the business event, unique across every run of the workflow id: the
    record is written once per event however often it is retried or replayed.
    """
    await write(
        RECORD_STATUS,
        StatusToRecord(object_type, object_id, to_status, reason, by_user_id, holds_until,
                       event),
        summary=f"{object_type} {object_id} → {to_status}: {reason}",
    )
    workflow.upsert_search_attributes([CRM_STATUS.value_set(to_status)])


async def send_email(email: EmailToSend, summary: str) -> EmailOutcome:
    """Send one email through the outbox: exactly once per purpose, however often retried."""
    return await workflow.execute_activity(
        SEND_EMAIL,
        email,
        result_type=EmailOutcome,
        start_to_close_timeout=SMTP_CONVERSATION,
        heartbeat_timeout=EMAIL_HEARTBEAT,
        retry_policy=RETRY_FOREVER_GENTLY,
        summary=summary[:200],
    )


async def create_task(task: TaskToCreate) -> CreatedTask:
    """Create a task for a person (once per purpose)."""
    return await write(CREATE_TASK, task, result_type=CreatedTask,
                       summary=f"Create task: {task.title}")


TIMED_STEPS = "timed-steps"
"""Patch id: until 2026-11-24 (late) a process took at once a step whose time had come, and
waited on a timer for one still to come; the clock decided which. A replay can read a later
clock than the run did in the same workflow task (Temporal killed while a worker held it), so
it could take at once a step the run had set a timer for, and break. Since then every timed
step waits on a timer, of a millisecond when its time has come: the run and every replay set
the same timers, whatever the clock reads (a timer's length is not checked on replay)."""
SHORTEST_WAIT = timedelta(milliseconds=1)


def time_until(at: datetime) -> timedelta:
    """How long to wait for a step due ``at``: at least :data:`SHORTEST_WAIT` (zero or less,
    for a run from before :data:`TIMED_STEPS`, when its time has come)."""
    left = at - workflow.now()
    return max(left, SHORTEST_WAIT) if workflow.patched(TIMED_STEPS) else left


async def wait_until(done: Callable[[], bool], timeout: timedelta, summary: str) -> bool:
    """Wait until ``done()`` holds or the timeout passes; True when it holds."""
    try:
        await workflow.wait_condition(done, timeout=timeout, timeout_summary=summary[:200])
    except TimeoutError:
        return done()
    return True


DECIDED_BY_TIMERS = "decided-by-timers"
"""Patch id: until 2026-11-24 (late) a project and a ticket decided what had fallen due by
the workflow clock (a ticket: never before an alarm whose timer fired). A message that woke
the process just before an alarm found it not yet due in the run; a replay reading a later
clock for that task (Temporal killed while a worker held it) found it due, took the step and
broke. Since then they decide by :class:`Timeline`'s history clock."""


class Timeline:
    """The time a process decides what has fallen due by: the time its history says has
    come, never the clock's reading.

    That is the run's start, or the latest alarm whose timer fired, whichever is later.
    Every alarm is waited for on a timer, even one whose time has come (for a millisecond):
    an alarm falls due when its timer fires, in the run and in every replay, and a message
    that wakes the process just before an alarm finds it not yet due on replay too, however
    much later than the run the replay's clock reads for that task. ``workflow.now()`` stays
    right for what the process records (when a message came) and shows.

    Runs from before :data:`DECIDED_BY_TIMERS` read the workflow clock, but never before an
    alarm whose timer fired; they may skip the timer of an alarm whose time has come.
    """

    def __init__(self) -> None:
        self.reached: datetime | None = None
        """The latest alarm whose timer fired."""
        self._by_timers: bool | None = None

    @property
    def by_timers(self) -> bool:
        """Whether this run decides by its history clock (asked once, when first needed)."""
        if self._by_timers is None:
            self._by_timers = workflow.patched(DECIDED_BY_TIMERS)
        return self._by_timers

    def now(self) -> datetime:
        now = workflow.info().workflow_start_time if self.by_timers else workflow.now()
        return now if self.reached is None else max(now, self.reached)

    async def wait_for(self, at: datetime, done: Callable[[], bool], summary: str) -> bool:
        """Wait until ``done()`` holds or ``at`` comes (then it counts as reached, however
        the clock reads); True when it holds."""
        left = at - workflow.now()
        try:
            await workflow.wait_condition(
                done, timeout=max(left, SHORTEST_WAIT) if self.by_timers else left,
                timeout_summary=summary[:200])
        except TimeoutError:
            self.reached = at if self.reached is None else max(self.reached, at)
            return done()
        return True


REMINDERS_COUNTED = "reminders-counted"
"""Patch id: until 2026-11-24 (late) the wait compared the clock with a deadline taken from
the clock at its start. When Temporal dies after handing a worker a task and before keeping
it, the worker that still holds the process keeps what it computed the first time, so its
clock read earlier than a replay's; the last period could then end on time in the run and
early on replay, and the replay take another path. Since then the periods are counted."""


async def wait_with_reminders(
    done: Callable[[], bool],
    *,
    timeout: timedelta,
    remind_every: timedelta | None,
    remind: Callable[[int], Awaitable[None]],
    summary: str,
) -> bool:
    """Wait until ``done()`` or the timeout; meanwhile call ``remind(n)`` every period.

    True when it was done in time. The n-th reminder goes out when n periods have passed,
    unless the timeout is reached with the n-th. The periods are counted, never read from
    the clock, so what the process decides here depends only on which timers fired (the
    time a reminder takes to send is not counted: the wait ends that much later).
    """
    counted = workflow.patched(REMINDERS_COUNTED)
    deadline = workflow.now() + timeout  # what runs from before REMINDERS_COUNTED read
    left, reminders = timeout, 0
    while True:
        if not counted:
            left = deadline - workflow.now()
        if left <= timedelta(0):
            return done()
        period = min(left, remind_every) if remind_every else left
        if period < left:
            step = f"{summary}: reminder {reminders + 1} in {describe(period)}"
        else:
            step = f"{summary}: {describe(period)} left"
        if await wait_until(done, period, step):
            return True
        left = left - period if counted else deadline - workflow.now()
        if remind_every and left > timedelta(0):
            reminders += 1
            await remind(reminders)


def plain(number: Decimal) -> str:
    """A number as people write it: 25 rather than 25.00, 2.5 rather than 2.500."""
    return f"{number.normalize():f}"


def describe(duration: timedelta) -> str:
    """A duration as people say it: '5 days', '2 hours', '90 seconds'."""
    seconds = int(duration.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"
