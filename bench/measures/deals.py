"""Measure 2: completions of a short real process, end to end.

crmflow: a quote with a 10 % discount (under the approval threshold), driven through the API
as people would: ``POST /quotes/{id}/submit`` (validated at once), ``/send`` (the quote is
emailed to the customer), ``/customer-response`` accepted (won: a sale, the author emailed),
then the process ends. Bare: ``BareDeal``, started and driven by the same three updates, with
the same two regular activities. 16 deals at a time. Goal (issue 12, goal 5): completions/s
at least 1.0x bare.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any

from bench import seed
from bench.bare import TASK_QUEUE as BARE_QUEUE
from bench.cpu import cpu_row, metered
from bench.http import LeanClient
from bench.load import LoadResult, closed_loop, failure_note
from bench.loads import Loads
from bench.outcomes import Distribution, Goal, Outcome, Row
from bench.stack import Stack
from crm import db

MEASURE = "2 short process end to end"
TIMEOUT = 30.0
"""Per request, and for the process to end after the last one."""
GRACE = 3
"""A deal is several calls: one under way at the deadline gets this many graces to finish."""


async def measure(stack: Stack, loads: Loads) -> Outcome:
    async def bare_deal(i: int) -> None:
        handle = await stack.client.start_workflow("BareDeal", id=f"deal-{i}",
                                                   task_queue=BARE_QUEUE)
        assert await handle.execute_update("outcome") == "validated"
        await handle.execute_update("send")
        await handle.execute_update("answer", True)
        assert await handle.result() == "won"

    grace = min(15, GRACE * loads.grace)
    with metered(stack) as bare_cpu:
        bare = await closed_loop(bare_deal, concurrency=loads.deciders, count=loads.deals,
                                 seconds=loads.deals_seconds, grace=grace)

    engine = db.create_engine(stack.database_url)
    try:
        rows = await seed.quotes_for_processes(engine, stack.people, loads.deals,
                                               discount_pct=Decimal(10), status="draft")
    finally:
        await engine.dispose()
    async with LeanClient(stack.api_url, connections=loads.deciders, timeout=TIMEOUT) as http:
        deal = driver(http, stack, rows, "quote", lambda result: result.get("status"))
        async with stack.profiled("deals", "api", "worker"):
            with metered(stack) as ours_cpu:
                ours = await closed_loop(deal, concurrency=loads.deciders, count=len(rows),
                                         seconds=loads.deals_seconds, grace=grace)
    stack.check_alive()
    outcome = _outcome(stack.database, ours, bare, loads.deciders)
    outcome.rows.append(cpu_row(MEASURE, stack.database, "process", ours_cpu, ours.done,
                                bare_cpu, bare.done))
    return outcome


def driver(http: LeanClient, stack: Stack, rows: Sequence[seed.QuoteRow], prefix: str,
           status_of: Callable[[Any], object]) -> Callable[[int], Awaitable[None]]:
    """The ``i``-th deal driven as people would: submitted (validated at once) and sent by
    the rep, accepted by the website, its process (``<prefix>-<id>``) then ended won —
    ``status_of`` reads that from the process's result. crmflow's API and the floor's
    answer the same calls."""
    rep = {"Authorization": f"Bearer {stack.people.rep.token}"}
    website = {"Authorization": f"Bearer {stack.people.website.token}"}

    async def step(path: str, expected: str, headers: dict[str, str],
                   body: object = None) -> None:
        answer = await http.post(path, body, headers)
        if answer.json()["status"] != expected:
            raise RuntimeError(f"{path}: {answer.json()['status']}, not {expected}")

    async def deal(i: int) -> None:
        quote = rows[i].quote_id
        await step(f"/quotes/{quote}/submit", "validated", rep)
        await step(f"/quotes/{quote}/send", "sent", rep)
        await step(f"/quotes/{quote}/customer-response", "won", website, {"accepted": True})
        result = await asyncio.wait_for(
            stack.client.get_workflow_handle(f"{prefix}-{quote}").result(), TIMEOUT)
        if status_of(result) != "won":
            raise RuntimeError(f"{prefix} {quote} ended {result}")

    return deal


def _outcome(database: str, ours: LoadResult, bare: LoadResult, drivers: int) -> Outcome:
    detail = (f"quote submit -> send -> accepted -> ended, via the API, vs BareDeal (3 updates,"
              f" 2 activities), {drivers} at a time: crmflow {ours.done}, bare {bare.done}; "
              f"{failure_note(ours, bare)}").strip("; ")
    failures = (ours.failures, bare.failures)
    return Outcome(
        rows=[
            Row(f"{MEASURE}: completions", database, "/s", ours.rate, bare.rate,
                Goal("ratio_at_least", 1.0), detail, failures),
            Row(f"{MEASURE}: p99 duration", database, "ms", ours.percentile_ms(99),
                bare.percentile_ms(99), None, failures=failures),
        ],
        distributions=[Distribution(MEASURE, database, "crmflow", ours.latencies),
                       Distribution(MEASURE, database, "bare", bare.latencies)],
    )
