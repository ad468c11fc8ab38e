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

DATABASE_READ = timedelta(seconds=30)
"""How long a read of the CRM (a local activity) may take."""
CRM_WRITE = timedelta(seconds=10)
"""How long one attempt of a CRM write may take: a write held by a worker that died is tried
again this soon, by another worker."""
SMTP_CONVERSATION = timedelta(minutes=2)
EMAIL_HEARTBEAT = timedelta(seconds=15)
"""The email activity heartbeats while it talks SMTP: a dead worker is noticed this fast."""
RETRY_FOREVER_GENTLY = RetryPolicy(maximum_interval=timedelta(minutes=5))

Result = TypeVar("Result")


async def write(activity: str, argument: Any, *, summary: str,
                result_type: type[Result] | None = None) -> Result:
    """Write to the CRM as the process decided: by an activity Temporal schedules, so the
    write happens only once the decision that asks for it is durable. Each activity writes
    once per business key, however often it is tried."""
    return await workflow.execute_activity(
        activity, argument, result_type=result_type,
        start_to_close_timeout=CRM_WRITE, retry_policy=RETRY_FOREVER_GENTLY,
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
) -> datetime:
    """Write the status change to the CRM history and show it on the process (CrmStatus);
    answers when the change was recorded (when Temporal scheduled the write: a time the
    history keeps, the same in the run and every replay).

    ``event`` names the business event, unique across every run of the workflow id: the
    record is written once per event however often it is retried or replayed.
    """
    recorded_at = await write(
        RECORD_STATUS,
        StatusToRecord(object_type, object_id, to_status, reason, by_user_id, holds_until,
                       event),
        summary=f"{object_type} {object_id} → {to_status}: {reason}",
        result_type=datetime,
    )
    workflow.upsert_search_attributes([CRM_STATUS.value_set(to_status)])
    return recorded_at


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


SHORTEST_WAIT = timedelta(milliseconds=1)
"""The timer of a step whose time has already come: every timed step waits on a timer."""


class Timeline:
    """The one way a process waits and decides what has fallen due: by the timers its
    history says have fired, never by the clock's reading.

    A replay can read a later clock than the run did for the same workflow task (Temporal
    killed while a worker held it), so a decision taken by comparing ``workflow.now()`` with
    a date could go another way on replay and break it. The timeline's time (:meth:`now`) is
    the run's start, or the latest alarm whose timer fired, whichever is later: the same in
    the run and in every replay. Every timed step waits on a timer, of
    :data:`SHORTEST_WAIT` when its time has come, so it falls due when its timer fires.
    ``workflow.now()`` stays right for what a process records (when a message came) and
    shows.
    """

    def __init__(self) -> None:
        self.reached: datetime | None = None
        """The latest alarm whose timer fired."""

    def now(self) -> datetime:
        start = workflow.info().workflow_start_time
        return start if self.reached is None else max(start, self.reached)

    async def wait_for(self, at: datetime, done: Callable[[], bool], summary: str) -> bool:
        """Wait until ``done()`` holds or ``at`` comes (then it counts as reached, however
        the clock reads); True when it holds."""
        if await self.wait(at - workflow.now(), done, summary):
            return True
        self.reached = at if self.reached is None else max(self.reached, at)
        return done()

    async def wait(self, timeout: timedelta, done: Callable[[], bool], summary: str) -> bool:
        """Wait until ``done()`` holds or a timer of ``timeout`` fires; True when it holds."""
        try:
            await workflow.wait_condition(done, timeout=max(timeout, SHORTEST_WAIT),
                                          timeout_summary=summary[:200])
        except TimeoutError:
            return done()
        return True

    async def wait_with_reminders(
        self,
        done: Callable[[], bool],
        *,
        timeout: timedelta,
        remind_every: timedelta | None,
        remind: Callable[[int], Awaitable[None]],
        summary: str,
    ) -> bool:
        """Wait until ``done()`` or the timeout; meanwhile call ``remind(n)`` every period.

        True when it was done in time. The n-th reminder goes out when n periods have
        passed, unless the timeout is reached with the n-th. The periods are counted, never
        read from the clock, so what the process decides here depends only on which timers
        fired (the time a reminder takes to send is not counted: the wait ends that much
        later).
        """
        left, reminders = timeout, 0
        while left > timedelta(0):
            period = min(left, remind_every) if remind_every else left
            if period < left:
                step = f"{summary}: reminder {reminders + 1} in {describe(period)}"
            else:
                step = f"{summary}: {describe(period)} left"
            if await self.wait(period, done, step):
                return True
            left -= period
            if remind_every and left > timedelta(0):
                reminders += 1
                await remind(reminders)
        return done()


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
