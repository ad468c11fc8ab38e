"""Measure 5: a timer storm — many reminders due at one instant.

crmflow: quotes pending approval (30 % discount, above the threshold) whose policy reminds the
manager every R seconds; a reminder is the reminder email reaching the SMTP sink. Bare:
``BareApproval`` (the request activity, then an activity every R seconds). Goal (issue 12,
goal 4): fired/s at least 1.0x bare, p99 lateness at most 1.0x bare.

Processes take their first reminder timer when they are taken in, so timers set over the
intake would fall due over as long; to have them all due at one instant, the worker is held
(SIGSTOP) once every process waits, until every reminder is due, then released: the instant.
This is what a worker meets after a deploy or an outage, and past the workflow cache's size
most wake-ups replay the history anyway. Lateness is counted from the release; fired/s is
the reminders over the time to the last one.

Preparing takes the intake time; the hold then lasts as long again (R must outlast the
intake), so the run uses it for the read measure (``prepare``, then other work, then
``unleash``). Quotes still pending afterwards are handed to the approval measure.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from bench import seed, starting
from bench.bare_workflows import Approval
from bench.cpu import cpu_row, metered
from bench.load import percentile
from bench.loads import Loads
from bench.outcomes import Distribution, Goal, Outcome, Row
from bench.probes import Arrivals
from bench.stack import Stack
from crm import db
from workflows.quote_approval import QuoteApprovalPolicy

MEASURE = "5 timer storm"
DISCOUNT = Decimal(30)
MARGIN = 12.0
PROBE = 10
SIZING = 0.8
"""Seconds R exceeds the intake by: ending the laggards and holding take a moment."""


@dataclass
class Side:
    worker: str
    arrivals: Arrivals
    reminders: dict[str, str] = field(default_factory=dict)
    """Reminder arrival key -> workflow id, for the processes waiting when held."""
    due_by: float = 0.0


@dataclass
class Pending:
    """Processes pending approval, reminded once, left for the approval measure."""

    quote_ids: list[int]
    bare_ids: list[str]


@dataclass
class Storm:
    stack: Stack
    loads: Loads
    period: float
    ours: Side
    bare: Side

    @property
    def due_by(self) -> float:
        return max(self.ours.due_by, self.bare.due_by)

    async def unleash(self) -> tuple[Outcome, Pending]:
        """Wait until every reminder is due, release each worker in turn, time the storm."""
        await asyncio.sleep(max(0.0, self.due_by - time.time()))
        with metered(self.stack) as bare_cpu:
            bare = await self._release(self.bare)
        async with self.stack.profiled("storm", "worker"):
            with metered(self.stack) as ours_cpu:
                ours = await self._release(self.ours)
        pending = Pending(
            [int(wid.removeprefix("quote-")) for key, wid in self.ours.reminders.items()
             if key in ours],
            [wid for key, wid in self.bare.reminders.items() if key in bare])
        outcome = self._outcome(ours, bare)
        outcome.rows.append(cpu_row(MEASURE, self.stack.database, "reminder", ours_cpu,
                                    len(ours), bare_cpu, len(bare)))
        return outcome, pending

    async def _release(self, side: Side) -> dict[str, float]:
        return await release(self.stack, side, self.loads.storm_seconds)

    def _outcome(self, ours: dict[str, float], bare: dict[str, float]) -> Outcome:
        budget = self.loads.storm_seconds
        database = self.stack.database

        def rate(lateness: dict[str, float], due: int) -> float:
            return fired_rate(lateness, due, budget)

        def late(lateness: dict[str, float], due: int, p: float) -> float:
            return lateness_ms(lateness, due, p, budget)

        n_ours, n_bare = len(self.ours.reminders), len(self.bare.reminders)
        detail = (f"reminders due at one instant (worker held, then released), R = "
                  f"{self.period:.0f} s: crmflow {len(ours)}/{n_ours} fired, bare "
                  f"{len(bare)}/{n_bare} within {budget:.0f} s")
        missed = (n_ours - len(ours), n_bare - len(bare))
        return Outcome(
            rows=[
                Row(f"{MEASURE}: fired", database, "/s", rate(ours, n_ours), rate(bare, n_bare),
                    Goal("ratio_at_least", 1.0), detail, missed),
                Row(f"{MEASURE}: lateness p50", database, "ms", late(ours, n_ours, 50),
                    late(bare, n_bare, 50), None, failures=missed),
                Row(f"{MEASURE}: lateness p99", database, "ms", late(ours, n_ours, 99),
                    late(bare, n_bare, 99), Goal("ratio_at_most", 1.0), failures=missed),
            ],
            distributions=[
                Distribution(MEASURE, database, "crmflow", list(ours.values())),
                Distribution(MEASURE, database, "bare", list(bare.values())),
            ],
        )


def fired_rate(lateness: dict[str, float], due: int, budget: float) -> float:
    """Reminders fired per second, over the time to the last one (or the whole budget)."""
    if not lateness:
        return 0.0
    return len(lateness) / (max(lateness.values()) if len(lateness) == due else budget)


def lateness_ms(lateness: dict[str, float], due: int, p: float, budget: float) -> float:
    """A percentile of lateness; reminders not fired within the budget count as late as the
    budget: a lower bound."""
    return percentile(list(lateness.values()) + [budget] * (due - len(lateness)), p) * 1000


async def release(stack: Stack, side: Side, budget: float) -> dict[str, float]:
    """Release the side's held worker; each reminder's lateness (seconds after the release)
    by arrival key; the processes whose reminder did not come within the budget are ended."""
    stack.release(side.worker)
    released = time.time()
    seen = await side.arrivals.wait_for(side.reminders, until=released + budget)
    await starting.terminate(stack, [wid for key, wid in side.reminders.items()
                                     if key not in seen])
    stack.check_alive()
    return {key: at - released for key, at in seen.items()}


async def prepare(stack: Stack, loads: Loads) -> Storm:
    """Start the quotes and the bare approvals, wait until they wait, hold both workers."""
    period = loads.storm_seconds + MARGIN  # the intake budget is the storm's own
    manager = stack.people.manager.user_id
    engine = db.create_engine(stack.database_url)
    try:
        rows = await seed.quotes_for_processes(engine, stack.people, loads.reminders,
                                               discount_pct=DISCOUNT, status="submitted")
    finally:
        await engine.dispose()
    policy = QuoteApprovalPolicy(reminder_every=timedelta(seconds=period),
                                 approval_timeout=timedelta(days=5))
    prefix = "submission_1:pending_approval"
    ours = Side("worker", stack.mail.arrivals, {
        f"quote-{r.quote_id}:{prefix}:approval_reminder:1:{manager}": f"quote-{r.quote_id}"
        for r in rows})
    requests = [(f"quote-{r.quote_id}:{prefix}:approval_request:0:{manager}",
                 f"quote-{r.quote_id}") for r in rows]
    await wait_for_intake(stack, ours, requests, loads.storm_seconds, period,
                           lambda a, b: starting.start_quotes(stack, rows[a:b], DISCOUNT, policy),
                           probe=PROBE)

    bare_ids = [f"approval-{k}" for k in range(max(len(ours.reminders), 1))]
    bare = Side("bare", stack.reports, {f"fired {i} 1": i for i in bare_ids})
    approval = Approval(stack.people.rep.user_id, period)
    await wait_for_intake(stack, bare, [(f"in {i}", i) for i in bare_ids], loads.storm_seconds,
                           period, lambda a, b: starting.start_bare(
                               stack, "BareApproval", bare_ids[a:b], approval),
                           probe=len(bare_ids))  # as many as crmflow's, all at once
    return Storm(stack, loads, period, ours, bare)


async def wait_for_intake(stack: Stack, side: Side, taken_in: list[tuple[str, str]],
                           budget: float, period: float,
                           start: Callable[[int, int], Awaitable[object]], probe: int) -> None:
    """Start the processes in waves, each as big as the worker showed it can take in within
    the budget's rest (``probe`` first: a backlog any bigger leaves all of it half-way); then
    end the ones not in, hold the worker, and note when the last reminder falls due.
    ``taken_in``: (arrival key, workflow id) of each, in order."""
    began = time.time()
    started, wave = 0, min(probe, len(taken_in))
    seen: dict[str, float] = {}
    while wave > 0 and time.time() < began + budget:
        await start(started, started + wave)
        started += wave
        seen = await side.arrivals.wait_for([k for k, _ in taken_in[:started]],
                                            until=began + budget)
        rate = len(seen) / max(time.time() - began, 0.1)
        wave = min(len(taken_in) - started,
                   int(SIZING * rate * max(began + budget - time.time(), 0)))
    laggards = {wid for key, wid in taken_in[:started] if key not in seen}
    await starting.terminate(stack, sorted(laggards))
    await asyncio.sleep(0.5)  # the last ones set their timers
    await stack.settle(timeout=6)
    await stack.hold(side.worker)
    waiting = {wid for key, wid in taken_in[:started] if key in seen}
    fired_early = side.arrivals.times_of(side.reminders)  # only if the intake outlasted R
    side.reminders = {key: wid for key, wid in side.reminders.items()
                      if wid in waiting and key not in fired_early}
    side.due_by = (max(seen.values()) if seen else began) + period + 1.0
