"""Measures 1 (intake) and 4 (memory): processes queued while the worker is held, then
taken in all at once; then held open, waiting.

crmflow: lead-to-sale processes, started as ``POST /leads`` starts them, while ``crmflow
worker`` is frozen; released, it takes them in — the welcome email reaching the SMTP sink
marks each one in — and they sleep until the next nurturing email (3 days). Bare:
``BareWaiting`` (one activity, then a 3-day timer), the same way on the bare worker.

*Intake* is the rate at which a worker takes in a backlog of new processes (issue 12, goal
1: at least 0.9x bare). Holding the worker makes it the worker's own rate, whatever the
start rate. *Memory per open process* is the growth of the worker's and the server's resident
memory divided by the processes held open (goal 3: worker at most 1.0x bare). Both workers
keep the SDK's default workflow cache, so past its size this is the cost of a bounded cache,
not of every process. This measure runs first, on fresh workers; crmflow first, within its
time budget, then as many bare processes as crmflow took in (memory at the same count).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bench import seed, starting
from bench.bare_workflows import Waiting
from bench.cpu import Spent, cpu_row, metered
from bench.loads import Loads
from bench.outcomes import Goal, Outcome, Row
from bench.probes import Arrivals
from bench.stack import Stack
from crm import db

SLEEP = 3 * 86400.0
"""The bare processes wait as long as a lead between nurturing emails (3 days)."""
WARM_UP = 10
"""Processes through each worker first: one-time costs (imports, templates, connections,
caches) are not memory per process, and crmflow's rate sizes the measured backlog."""
SIZING = 0.8
SETTLE = 1.0
"""After the last one is in: its timer is set before memory is read."""


@dataclass
class Side:
    queued: int
    taken_in: int
    seconds: float
    worker_bytes: int
    server_bytes: int
    cpu: Spent
    """What the stack spent from the worker's release until the last process was in."""
    events: int
    """The history events of one process taken in, as it waits: what the worker's cache and
    the server keep state for."""

    @property
    def rate(self) -> float:
        return self.taken_in / self.seconds if self.seconds else 0.0

    @property
    def worker_kib(self) -> float:
        return self.worker_bytes / 1024 / max(self.taken_in, 1)

    @property
    def server_kib(self) -> float:
        return self.server_bytes / 1024 / max(self.queued, 1)


async def measure(stack: Stack, loads: Loads) -> Outcome:
    warm_up = await _crmflow_side(stack, WARM_UP, budget=60)
    await _bare_side(stack, WARM_UP, budget=60)
    await stack.settle()
    # A backlog crmflow can take in within the budget (at the rate the warm-up showed):
    # every process of a bigger one would be half-way at the deadline.
    n = min(loads.open_processes,
            max(WARM_UP, int(SIZING * warm_up.rate * loads.intake_seconds)))
    async with stack.profiled("intake", "worker"):
        ours = await _crmflow_side(stack, n, loads.intake_seconds)
    # As many bare ones as crmflow took in: memory per process at the same count.
    bare = await _bare_side(stack, max(ours.taken_in, 1), loads.intake_seconds)
    outcome = _outcome(stack.database, ours, bare, loads.open_processes)
    outcome.counts["intake"] = ours.taken_in
    return outcome


async def _crmflow_side(stack: Stack, n: int, budget: float) -> Side:
    engine = db.create_engine(stack.database_url)
    try:
        lead_ids = await seed.leads(engine, n, team_id=stack.people.team_id)
    finally:
        await engine.dispose()

    async def queue() -> None:
        await starting.start_leads(stack, lead_ids)

    return await held_intake(stack, "worker", queue,
                       {f"lead-{i}:welcome": f"lead-{i}" for i in lead_ids},
                       stack.mail.arrivals, budget)


_bare_batches = itertools.count()


async def _bare_side(stack: Stack, n: int, budget: float) -> Side:
    batch = next(_bare_batches)
    ids = [f"waiting-{batch}-{k}" for k in range(n)]

    async def queue() -> None:
        await starting.start_bare(stack, "BareWaiting", ids, Waiting(SLEEP))

    return await held_intake(stack, "bare", queue, {f"in {i}": i for i in ids}, stack.reports,
                       budget)


async def held_intake(stack: Stack, worker: str, queue: Callable[[], Awaitable[None]],
                keys: dict[str, str], arrivals: Arrivals, budget: float) -> Side:
    """Queue the processes with the worker held, release it, time the intake, read memory;
    end the processes not in by the deadline. ``keys``: arrival key -> workflow id."""
    worker_before, server_before = stack.rss(worker), stack.rss("temporal")
    with contextlib.ExitStack() as metering:
        async with stack.held(worker):
            await queue()
            spent = metering.enter_context(metered(stack))
            released = time.time()
        seen = await arrivals.wait_for(keys, until=released + budget)
    finished = max(seen.values()) if len(seen) == len(keys) else released + budget
    await starting.terminate(stack, [wid for key, wid in keys.items() if key not in seen])
    await asyncio.sleep(SETTLE)
    stack.check_alive()
    events = 0
    if seen:
        described = await stack.client.get_workflow_handle(keys[next(iter(seen))]).describe()
        events = described.raw_description.workflow_execution_info.history_length
    return Side(len(keys), len(seen), finished - released,
                stack.rss(worker) - worker_before, stack.rss("temporal") - server_before, spent,
                events)


def _outcome(database: str, ours: Side, bare: Side, target: int) -> Outcome:
    def counted(side: Side) -> str:
        return f"{side.taken_in}/{side.queued} in {side.seconds:.1f} s"

    return Outcome(rows=[
        Row("1 intake: new processes taken in", database, "/s", ours.rate, bare.rate,
            Goal("ratio_at_least", 0.9),
            f"backlog, worker released: first welcome email vs first bare activity; "
            f"crmflow {counted(ours)} (target {target:,}, sized to the warm-up's rate), "
            f"bare {counted(bare)}"),
        cpu_row("1 intake", database, "process taken in", ours.cpu, ours.taken_in, bare.cpu,
                bare.taken_in),
        Row("4 worker memory per open process", database, "KiB", ours.worker_kib,
            bare.worker_kib, Goal("ratio_at_most", 1.0),
            f"worker RSS growth / processes in ({ours.taken_in} crmflow, {bare.taken_in} bare);"
            f" default workflow cache; history events of a waiting process: crmflow "
            f"{ours.events}, bare {bare.events}"),
        Row("4 server memory per open process", database, "KiB", ours.server_kib,
            bare.server_kib, None, "dev server RSS growth / processes queued"),
        Row("4 worker+server memory per open process", database, "KiB",
            ours.worker_kib + ours.server_kib, bare.worker_kib + bare.server_kib,
            Goal("ratio_at_most", 1.0), "stretch: <= 50 KiB in all"),
    ])
