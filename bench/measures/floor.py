"""The floor's side of each measure (``bench.floor``), run right after crmflow's on the same
stack, its figures set beside crmflow's in the same rows; plus the history events per step
on each side, counted from the histories the measures just made.

- starts: ``POST /leads`` on the floor's API, as many callers; a start is in when its
  welcome email reaches the SMTP sink (``floor-lead-<id>:welcome``).
- intake and memory: floor leads queued with the floor's worker held, then released (as
  crmflow's, ``bench.measures.intake.held_intake``), as many as crmflow took in.
- the short process: a quote submitted (update-with-start, validated at once), sent,
  accepted (won, the sale), ended, through the floor's API, 16 at a time.
- reminders: floor quotes pending approval, reminded all at one instant (as crmflow's,
  ``bench.measures.storm``); then decided by ``POST /quotes/{id}/decision`` (the approvals).

Goals (issue 26): CPU per start, decision, reminder and short process at most 1.3x the
floor's; worker memory per open process at most 1.2x; history events per step at most the
floor's + 2.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from bench import seed, starting
from bench.cpu import metered
from bench.floor.app import attributes
from bench.floor.audit import audit
from bench.floor.flows import TASK_QUEUE, FloorLead, FloorQuote, LeadIn, QuoteIn
from bench.http import LeanClient
from bench.load import LoadResult, closed_loop
from bench.loads import Loads
from bench.measures import deals as deal_measure
from bench.measures import intake, storm
from bench.outcomes import Goal, Outcome, Row
from bench.stack import FLOOR_STEP_DELAY, Stack
from crm import db

CPU_GOAL = Goal("floor_ratio_at_most", 1.3)
MEMORY_GOAL = Goal("floor_ratio_at_most", 1.2)
EVENTS_GOAL = Goal("floor_plus_at_most", 2)
WORKER = "floor-worker"


def attach(outcome: Outcome, measure: str, database: str, value: float | None,
           goal: Goal | None = None, failures: int = 0, detail: str = "") -> None:
    """The floor's figure in crmflow's row of that measure (which must exist)."""
    for row in outcome.rows:
        if row.measure == measure and row.database == database:
            row.floor, row.floor_goal, row.floor_failures = value, goal, failures
            if detail:
                row.detail = f"{row.detail}; floor: {detail}".lstrip("; ")
            return
    raise LookupError(f"no row {measure!r} [{database}] to set the floor's figure in")


def _cpu_ms(spent: object, operations: int) -> float | None:
    return spent.total_ms(operations) if operations else None  # type: ignore[attr-defined]


# Starts ---------------------------------------------------------------------------------


async def starts(stack: Stack, loads: Loads, outcome: Outcome) -> None:
    auth = {"Authorization": f"Bearer {stack.people.website.token}"}
    tag, started = int(time.time()), []
    async with LeanClient(stack.floor_url, connections=loads.concurrency, headers=auth) as http:

        async def sign_up(i: int) -> None:
            answer = await http.post("/leads", {
                "name": f"Floor signup {i}", "email": f"floor-{tag}-{i}@leads.example",
                "company": "Acme", "team_id": stack.people.team_id})
            started.append(int(answer.json()["id"]))

        with metered(stack) as spent:
            done = await closed_loop(sign_up, concurrency=loads.concurrency, count=loads.starts,
                                     seconds=loads.starts_seconds, grace=loads.grace)
    seen = await stack.mail.arrivals.wait_for(
        [f"floor-lead-{i}:welcome" for i in started], until=time.time() + loads.grace)
    await starting.terminate(stack, [f"floor-lead-{i}" for i in started
                                     if f"floor-lead-{i}:welcome" not in seen])
    _attach_load(outcome, "1 process starts", stack.database, done, ("rate", "p50", "p99"))
    attach(outcome, "1 process starts: CPU per start", stack.database,
           _cpu_ms(spent, done.done), CPU_GOAL, done.failures, spent.note(done.done))


def _attach_load(outcome: Outcome, measure: str, database: str, done: LoadResult,
                 figures: Sequence[str]) -> None:
    values = {"rate": done.rate, "completions": done.rate, "p50": done.percentile_ms(50),
              "p99": done.percentile_ms(99), "p99 duration": done.percentile_ms(99)}
    for figure in figures:
        attach(outcome, f"{measure}: {figure}", database, values[figure],
               failures=done.failures)


# Intake and memory ----------------------------------------------------------------------


async def memory(stack: Stack, loads: Loads, outcome: Outcome, count: int) -> None:
    """As many floor leads as crmflow's intake took in, queued with the floor's worker held."""
    engine = db.create_engine(stack.database_url)
    try:
        warm = await seed.leads(engine, intake.WARM_UP, team_id=stack.people.team_id)
        lead_ids = await seed.leads(engine, max(count, 1), team_id=stack.people.team_id)
    finally:
        await engine.dispose()
    await _held_leads(stack, warm, 60)
    await stack.settle()
    side = await _held_leads(stack, lead_ids, loads.intake_seconds)
    database = stack.database
    attach(outcome, "1 intake: new processes taken in", database, side.rate)
    attach(outcome, "1 intake: CPU per process taken in", database,
           _cpu_ms(side.cpu, side.taken_in), None, 0, side.cpu.note(side.taken_in))
    attach(outcome, "4 worker memory per open process", database, side.worker_kib, MEMORY_GOAL,
           side.queued - side.taken_in,
           f"{side.taken_in}/{side.queued} in, history events of a waiting process "
           f"{side.events}")
    attach(outcome, "4 server memory per open process", database, side.server_kib)
    attach(outcome, "4 worker+server memory per open process", database,
           side.worker_kib + side.server_kib)


async def _held_leads(stack: Stack, lead_ids: Sequence[int], budget: float) -> intake.Side:
    async def queue() -> None:
        async def start(i: int) -> None:
            lead = lead_ids[i]
            await stack.client.start_workflow(
                FloorLead.run, LeadIn(lead, f"Lead {lead}", f"floor-{lead}@leads.example",
                                      FLOOR_STEP_DELAY),
                id=f"floor-lead-{lead}", task_queue=TASK_QUEUE)

        await closed_loop(start, concurrency=starting.STARTERS, count=len(lead_ids),
                          seconds=3600)

    return await intake.held_intake(
        stack, WORKER, queue, {f"floor-lead-{i}:welcome": f"floor-lead-{i}" for i in lead_ids},
        stack.mail.arrivals, budget)


# The short process ----------------------------------------------------------------------


async def deals(stack: Stack, loads: Loads, outcome: Outcome, count: int) -> None:
    engine = db.create_engine(stack.database_url)
    try:
        rows = await seed.quotes_for_processes(engine, stack.people, max(count, 1),
                                               discount_pct=Decimal(10), status="draft")
    finally:
        await engine.dispose()
    async with LeanClient(stack.floor_url, connections=loads.deciders,
                          timeout=deal_measure.TIMEOUT) as http:
        deal = deal_measure.driver(http, stack, rows, "floor-quote", lambda result: result)
        with metered(stack) as spent:
            done = await closed_loop(deal, concurrency=loads.deciders, count=len(rows),
                                     seconds=loads.deals_seconds,
                                     grace=min(15, 3 * loads.grace))
    measure = "2 short process end to end"
    _attach_load(outcome, measure, stack.database, done, ("completions", "p99 duration"))
    attach(outcome, f"{measure}: CPU per process", stack.database, _cpu_ms(spent, done.done),
           CPU_GOAL, done.failures, spent.note(done.done))


# Reminders and decisions ----------------------------------------------------------------


@dataclass
class FloorStorm:
    side: storm.Side
    period: float


def quote_input(row: seed.QuoteRow, stack: Stack, period: float) -> QuoteIn:
    people = stack.people
    total = float(starting.LINE_TOTAL * (100 - storm.DISCOUNT) / 100)
    return QuoteIn(row.quote_id, row.lead_id, row.account_id, people.rep.user_id,
                   people.rep.email, people.team_id, people.manager.email, row.contact_email,
                   float(storm.DISCOUNT), total, reminder_seconds=period)


async def prepare_storm(stack: Stack, loads: Loads, count: int) -> FloorStorm:
    """As many floor quotes pending approval as crmflow's storm has, waiting, worker held."""
    period = loads.storm_seconds + storm.MARGIN
    engine = db.create_engine(stack.database_url)
    try:
        rows = await seed.quotes_for_processes(engine, stack.people, max(count, 1),
                                               discount_pct=storm.DISCOUNT, status="submitted")
    finally:
        await engine.dispose()
    side = storm.Side(WORKER, stack.mail.arrivals, {
        f"floor-quote-{r.quote_id}:approval_reminder_1": f"floor-quote-{r.quote_id}"
        for r in rows})
    requests = [(f"floor-quote-{r.quote_id}:approval_request", f"floor-quote-{r.quote_id}")
                for r in rows]

    async def start(a: int, b: int) -> None:
        async def one(i: int) -> None:
            row = rows[a + i]
            await stack.client.start_workflow(
                FloorQuote.run, quote_input(row, stack, period),
                id=f"floor-quote-{row.quote_id}", task_queue=TASK_QUEUE,
                search_attributes=attributes("floor_quote_approval", "pending_approval"))

        await closed_loop(one, concurrency=starting.STARTERS, count=b - a, seconds=3600)

    await storm.wait_for_intake(stack, side, requests, loads.storm_seconds, period, start,
                                probe=storm.PROBE)
    return FloorStorm(side, period)


async def unleash(stack: Stack, loads: Loads, prepared: FloorStorm, outcome: Outcome,
                  ) -> list[int]:
    """The floor's reminders, all due, released; the quotes reminded (for the decisions)."""
    await asyncio.sleep(max(0.0, prepared.side.due_by - time.time()))
    with metered(stack) as spent:
        late = await storm.release(stack, prepared.side, loads.storm_seconds)
    due, budget, database = len(prepared.side.reminders), loads.storm_seconds, stack.database
    missed = due - len(late)
    measure = "5 timer storm"
    attach(outcome, f"{measure}: fired", database, storm.fired_rate(late, due, budget),
           failures=missed, detail=f"{len(late)}/{due} fired")
    for p in (50, 99):
        attach(outcome, f"{measure}: lateness p{p}", database,
               storm.lateness_ms(late, due, p, budget), failures=missed)
    attach(outcome, f"{measure}: CPU per reminder", database, _cpu_ms(spent, len(late)),
           CPU_GOAL, missed, spent.note(len(late)))
    return [int(prepared.side.reminders[key].removeprefix("floor-quote-")) for key in late]


async def approvals(stack: Stack, loads: Loads, outcome: Outcome, quote_ids: list[int]) -> None:
    auth = {"Authorization": f"Bearer {stack.people.manager.token}"}
    async with LeanClient(stack.floor_url, connections=loads.deciders, headers=auth) as http:

        async def decide(i: int) -> None:
            answer = await http.post(f"/quotes/{quote_ids[i]}/decision",
                                     {"approve": True, "comment": "ok"})
            if answer.json()["status"] != "validated":
                raise RuntimeError(f"floor quote {quote_ids[i]}: {answer.json()['status']}")

        with metered(stack) as spent:
            done = await closed_loop(decide, concurrency=loads.deciders,
                                     count=min(loads.approvals, len(quote_ids)),
                                     seconds=loads.approvals_seconds, grace=loads.grace)
    measure = "3 approval round trip"
    _attach_load(outcome, measure, stack.database, done, ("rate", "p50", "p99"))
    attach(outcome, f"{measure}: CPU per decision", stack.database, _cpu_ms(spent, done.done),
           CPU_GOAL, done.failures, spent.note(done.done))


# The audit -----------------------------------------------------------------------------


async def audited(stack: Stack, outcome: Outcome) -> None:
    """The floor's audit (``bench.floor.audit``) over everything the run made it do; each
    finding counts as a failure of the floor in every row it has a figure in, so no floor
    goal is met by a floor that lost or doubled something."""
    await stack.settle()
    with stack.mail._lock:
        accepted = dict(stack.mail.accepted)
    findings = await audit(stack.database_url, stack.client, accepted)
    for row in outcome.rows:
        if row.floor is not None and row.database == stack.database:
            row.floor_failures += len(findings)
    outcome.rows.append(Row(
        "9 floor audit: findings", stack.database, "", None, None, None,
        "; ".join(findings[:5]) or "the floor lost, doubled and invented nothing",
        floor=float(len(findings)), floor_failures=len(findings)))


# History events per step ----------------------------------------------------------------

Counter = Callable[[list[int]], int | None]


def _until_waiting(types: list[int]) -> int | None:
    """A new process's events until it waits (its first timer set)."""
    started = EventType.EVENT_TYPE_TIMER_STARTED
    return types.index(started) + 1 if started in types else None


def _one_reminder(types: list[int]) -> int | None:
    """From a timer firing to the next timer set: one reminder."""
    fired, started = EventType.EVENT_TYPE_TIMER_FIRED, EventType.EVENT_TYPE_TIMER_STARTED
    if fired not in types:
        return None
    at = types.index(fired)
    rest = types[at:]
    return rest.index(started) + 1 if started in rest else None


def _one_decision(types: list[int]) -> int | None:
    """From the decision's update accepted to the end (the process then waits)."""
    accepted = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    return len(types) - types.index(accepted) if accepted in types else None


def _whole(types: list[int]) -> int | None:
    """A process's events from its start to its end."""
    completed = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    return len(types) if types and types[-1] == completed else None


STEPS: list[tuple[str, str, Counter, dict[str, str]]] = [
    ("start", "1 process starts", _until_waiting,
     {"crmflow": "WorkflowType = 'LeadToSale'", "bare": "WorkflowType = 'BareWaiting'",
      "floor": "WorkflowType = 'FloorLead'"}),
    ("reminder", "5 timer storm", _one_reminder,
     {"crmflow": "WorkflowType = 'QuoteApproval'", "bare": "WorkflowType = 'BareApproval'",
      "floor": "WorkflowType = 'FloorQuote'"}),
    ("decision", "3 approval round trip", _one_decision,
     {"crmflow": "WorkflowType = 'QuoteApproval' AND CrmStatus = 'validated'",
      "bare": "WorkflowType = 'BareApproval'",
      "floor": "WorkflowType = 'FloorQuote' AND CrmProcess = 'floor_quote_approval'"}),
    ("process", "2 short process end to end", _whole,
     {"crmflow": "WorkflowType = 'QuoteApproval' AND ExecutionStatus = 'Completed'",
      "bare": "WorkflowType = 'BareDeal' AND ExecutionStatus = 'Completed'",
      "floor": "WorkflowType = 'FloorQuote' AND ExecutionStatus = 'Completed'"}),
]


KINDS = {"WORKFLOW_TASK": "workflow task", "ACTIVITY_TASK": "activity", "TIMER": "timer",
         "UPSERT": "search attributes", "UPDATE": "update", "MARKER": "marker",
         "SIGNAL": "signal"}
"""Event types by what they belong to (``EVENT_TYPE_<X>_…``), for the details."""


def _by_kind(types: list[int]) -> str:
    counts: dict[str, int] = {}
    for t in types:
        name = EventType.Name(t).removeprefix("EVENT_TYPE_")  # type: ignore[arg-type]
        kind = next((k for part, k in KINDS.items() if part in name), "other")
        counts[kind] = counts.get(kind, 0) + 1
    return ", ".join(f"{kind} {n}" for kind, n in counts.items())


async def _events(client: Client, query: str, counter: Counter, sample: int = 40,
                  ) -> tuple[float | None, str]:
    """The median count over the first histories of the query that have the step, and the
    step's events of one of them by kind."""
    counts: list[tuple[int, list[int]]] = []
    async for execution in client.list_workflows(query, limit=sample):
        history = await client.get_workflow_handle(
            execution.id, run_id=execution.run_id).fetch_history()
        types = [int(e.event_type) for e in history.events]
        if (n := counter(types)) is not None:
            counts.append((n, types))
        if len(counts) >= 5:
            break
    if not counts:
        return None, ""
    counts.sort(key=lambda c: c[0])
    n, types = counts[len(counts) // 2]
    return statistics.median(c for c, _ in counts), _by_kind(_step_of(counter, types, n))


def _step_of(counter: Counter, types: list[int], n: int) -> list[int]:
    """The ``n`` events the counter counted: those of the step."""
    if counter is _whole:
        return types
    if counter is _until_waiting:
        return types[:n]
    if counter is _one_decision:
        return types[len(types) - n:]
    at = types.index(EventType.EVENT_TYPE_TIMER_FIRED)
    return types[at:at + n]


async def events(stack: Stack, outcome: Outcome, steps: set[str]) -> None:
    """A row per measured step: its history events on each side."""
    for step, measure, counter, queries in STEPS:
        if measure not in steps:
            continue
        found = {side: await _events(stack.client, query, counter)
                 for side, query in queries.items()}
        kinds = "; ".join(f"{side}: {found[side][1]}" for side in found if found[side][1])
        outcome.rows.append(Row(
            f"{measure}: history events per {step}", stack.database, "", found["crmflow"][0],
            found["bare"][0], None,
            f"median over up to 5 histories ({counter.__doc__}) By kind: {kinds}",
            floor=found["floor"][0], floor_goal=EVENTS_GOAL))
