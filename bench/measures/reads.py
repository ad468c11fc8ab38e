"""Measure 6: read endpoints over a CRM that has run for a while.

``read_rows`` leads and as many quotes (100,000 each in the full run), written straight into
the database; then, with 32 connections, each endpoint in turn: ``GET /leads`` (first page),
``GET /leads/{id}``, ``GET /quotes?status=pending_approval`` (first page), ``GET
/quotes/{id}`` (random ids) — beside a FastAPI no-op endpoint served the same way
(``bench.noop_app``). Goal (issue 12, goal 6): p99 under 25 ms.

No process is needed; the timer storm runs this while its workers are held.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from bench import seed
from bench.cpu import cpu_row, metered
from bench.http import LeanClient
from bench.load import LoadResult, closed_loop
from bench.loads import Loads
from bench.outcomes import Distribution, Goal, Outcome, Row
from bench.stack import Stack
from crm import db

MEASURE = "6 read"
P99_CEILING_MS = 25.0
API_CPU_CEILING_MS = 1.0
"""Issue 26: a read costs at most 1 ms of the API's CPU."""
TIMEOUT = 5.0
"""A read slower than this is a failure (and counted at this latency)."""


async def _load(url: str, paths: Callable[[], str], headers: dict[str, str],
                loads: Loads) -> LoadResult:
    async with LeanClient(url, connections=loads.concurrency, headers=headers,
                          timeout=TIMEOUT) as http:

        async def get(_: int) -> None:
            await http.get(paths())

        return await closed_loop(get, concurrency=loads.concurrency, count=10**9,
                                 seconds=loads.read_seconds, grace=TIMEOUT)


ANALYZED = {
    "sqlite": "SELECT count(DISTINCT tbl) FROM sqlite_stat1 WHERE tbl IN ('leads', 'quotes')",
    "postgresql": "SELECT count(*) FROM pg_stat_user_tables WHERE relname IN ('leads', "
                  "'quotes') AND coalesce(last_analyze, last_autoanalyze) IS NOT NULL",
}


async def _analyzed_by_the_api(database_url: str, timeout: float = 30.0) -> None:
    """Wait (a bounded while) for the planner statistics the API keeps (``crm.statistics``)
    to cover the seeded tables, as they would in a CRM that has run for a while."""
    engine = db.create_engine(database_url)
    try:
        give_up = time.monotonic() + timeout
        while time.monotonic() < give_up:
            try:
                async with engine.connect() as connection:
                    if await connection.scalar(text(ANALYZED[engine.dialect.name])) == 2:
                        return
            except DBAPIError:  # no sqlite_stat1 before the first ANALYZE
                pass
            await asyncio.sleep(0.5)
    finally:
        await engine.dispose()


async def measure(stack: Stack, loads: Loads) -> Outcome:
    engine = db.create_engine(stack.database_url)
    began = time.perf_counter()
    try:
        lead_ids, quote_ids = await seed.many_leads_and_quotes(engine, stack.people,
                                                                loads.read_rows)
    finally:
        await engine.dispose()
    seeded = time.perf_counter() - began
    pick = random.Random(12)
    endpoints: dict[str, Callable[[], str]] = {
        "GET /leads": lambda: "/leads",
        "GET /leads/{id}": lambda: f"/leads/{pick.choice(lead_ids)}",
        "GET /quotes?status=": lambda: "/quotes?status=pending_approval",
        "GET /quotes/{id}": lambda: f"/quotes/{pick.choice(quote_ids)}",
    }
    auth = {"Authorization": f"Bearer {stack.people.rep.token}"}
    with metered(stack) as noop_cpu:
        noop = await _load(stack.noop_url, lambda: "/noop", {}, loads)
    await _analyzed_by_the_api(stack.database_url)
    results, restarted, api_cpu = {}, set(), {}
    async with stack.profiled("reads", "api"):
        with metered(stack) as reads_cpu:
            for name, paths in endpoints.items():
                with metered(stack) as spent:
                    results[name] = await _load(stack.api_url, paths, auth, loads)
                api_cpu[name] = spent.seconds.get("api", 0.0) * 1000 / max(results[name].done, 1)
                if await stack.unstick_api():  # one endpoint's pile-up must not fail the next
                    restarted.add(name)
    stack.check_alive()
    noop_ms = noop_cpu.seconds.get("noop", 0.0) * 1000 / max(noop.done, 1)

    outcome = Outcome(distributions=[Distribution(MEASURE, stack.database, "bare",
                                                  noop.latencies, "no-op")])
    for name, result in results.items():
        failed = f"; first failure: {result.first_failure[:200]}" if result.failures else ""
        if name in restarted:
            failed += "; the API was stuck afterwards (restarted)"
        outcome.rows.append(Row(
            f"{MEASURE} p99: {name}", stack.database, "ms", result.percentile_ms(99),
            noop.percentile_ms(99), Goal("below", P99_CEILING_MS, "ms"),
            f"{loads.read_rows:,} leads and quotes (written in {seeded:.0f} s), "
            f"{loads.concurrency} connections; {result.rate:.0f}/s vs no-op "
            f"{noop.rate:.0f}/s{failed}", (result.failures, noop.failures)))
        outcome.distributions.append(
            Distribution(MEASURE, stack.database, "crmflow", result.latencies, name))
        outcome.rows.append(Row(
            f"{MEASURE}: API CPU per read, {name}", stack.database, "ms", api_cpu[name],
            noop_ms, Goal("below", API_CPU_CEILING_MS, "ms"),
            "the API processes' CPU over the endpoint's run per read answered (bare: the "
            "no-op app's per no-op)", (result.failures, noop.failures)))
    outcome.rows.append(cpu_row(MEASURE, stack.database, "read", reads_cpu,
                                sum(r.done for r in results.values()), noop_cpu, noop.done))
    return outcome
