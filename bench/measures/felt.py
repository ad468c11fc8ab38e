"""Measure 10: what a user feels at a realistic load — p99 latencies at 20 % of capacity.

Capacity is what this run measured just before: the start rate (measure 1), the decision
rate (3) and the read rate the API's CPU per read allows (6). A busy hour is not
saturation: here each kind of request arrives on its own, at random (exponential gaps, a
fixed seed), at 5 % of its own capacity, so together they ask about 20 % of what the
machine can do: people signing up (``POST /leads``), managers deciding
(``POST /quotes/{id}/decision`` on quotes still pending from the timer storm), reps opening
a lead's console page (``GET /console/leads/{id}``, signed in) and integrations reading a
lead (``GET /leads/{id}``). Goals (issue 26): p99 of a start and of a decision < 150 ms, of
a console page < 100 ms, of a read < 25 ms. The bare column is empty: these are absolute.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Awaitable, Callable

import httpx

from bench import seed
from bench.http import LeanClient
from bench.load import LoadResult
from bench.loads import Loads
from bench.outcomes import Distribution, Goal, Outcome, Row
from bench.stack import Stack
from crm import db

MEASURE = "10 at 20 % of capacity"
SHARE = 0.05
"""Of each kind's own capacity; four kinds: about 20 % of the machine's."""
GOALS_MS = {"start": 150.0, "decision": 150.0, "console page": 100.0, "read": 25.0}
TIMEOUT = 10.0


RESERVED = 60
"""Quotes pending approval kept back from measure 3 for the decisions here."""


def kept_for_decisions(pending: list[int]) -> list[int]:
    """The storm's pending quotes this measure decides: the last ones, at most half."""
    return pending[len(pending) - min(RESERVED, len(pending) // 2):]


def _figure(outcome: Outcome, measure: str, database: str) -> float | None:
    for row in outcome.rows:
        if row.measure == measure and row.database == database and row.crmflow:
            return row.crmflow
    return None


async def _open_loop(call: Callable[[int], Awaitable[object]], rate: float, seconds: float,
                     seed_: int) -> LoadResult:
    """Calls arriving at random at ``rate`` a second for ``seconds``, whatever the answers'
    pace (an open loop: a slow answer does not slow the arrivals)."""
    result, pick = LoadResult(), random.Random(seed_)
    began = time.perf_counter()
    tasks: list[asyncio.Task[None]] = []

    async def one(i: int) -> None:
        sent = time.perf_counter()
        try:
            await asyncio.wait_for(call(i), TIMEOUT)
        except Exception as error:  # counted, with its time
            result.failures += 1
            result.first_failure = result.first_failure or repr(error)[:300]
        result.latencies.append(time.perf_counter() - sent)

    at, i = 0.0, 0
    while rate > 0:
        at += pick.expovariate(rate)
        if at > seconds:
            break
        await asyncio.sleep(max(0.0, began + at - time.perf_counter()))
        tasks.append(asyncio.create_task(one(i)))
        i += 1
    await asyncio.gather(*tasks)
    result.elapsed = time.perf_counter() - began
    return result


async def _console_cookie(stack: Stack) -> str:
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as http:
        page = await http.get("/console/sign-in")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf, "the console's sign-in page has no CSRF field"
        answer = await http.post("/console/sign-in", data={
            "csrf": csrf[1], "token": stack.people.rep.token})
        assert answer.status_code == 303, answer.text[:300]
        return "; ".join(f"{k}={v}" for k, v in http.cookies.items())


async def measure(stack: Stack, loads: Loads, before: Outcome, pending: list[int]) -> Outcome:
    database = stack.database
    starts = _figure(before, "1 process starts: rate", database)
    decisions = _figure(before, "3 approval round trip: rate", database)
    read_cpu = _figure(before, "6 read: CPU per read", database)
    reads = 2000 / read_cpu if read_cpu else None  # two cores, 1,000 ms of CPU a second each
    seconds = max(3.0, 2.5 * loads.read_seconds * 2)
    engine = db.create_engine(stack.database_url)
    try:
        lead_ids = await seed.leads(engine, 200, team_id=stack.people.team_id)
    finally:
        await engine.dispose()
    cookie = await _console_cookie(stack)
    manager = {"Authorization": f"Bearer {stack.people.manager.token}"}
    website = {"Authorization": f"Bearer {stack.people.website.token}"}
    rep = {"Authorization": f"Bearer {stack.people.rep.token}"}
    tag, pick = int(time.time()), random.Random(26)
    async with LeanClient(stack.api_url, connections=64, timeout=TIMEOUT) as http:

        async def start(i: int) -> None:
            await http.post("/leads", {"name": f"Busy hour {i}",
                                       "email": f"busy-{tag}-{i}@leads.example",
                                       "team_id": stack.people.team_id}, website)

        async def decide(i: int) -> None:
            answer = await http.post(f"/quotes/{pending[i]}/decision",
                                     {"approve": True, "comment": "ok"}, manager)
            assert answer.json()["status"] == "validated", answer.json()

        async def page(i: int) -> None:
            answer = await http.get(f"/console/leads/{pick.choice(lead_ids)}",
                                    {"Cookie": cookie})
            assert b"<html" in answer.body[:500].lower(), answer.body[:200]

        async def read(i: int) -> None:
            await http.get(f"/leads/{pick.choice(lead_ids)}", rep)

        decision_rate = min(SHARE * (decisions or 0), len(pending) / seconds)
        kinds = {
            "start": (start, SHARE * (starts or 0)),
            "decision": (decide, decision_rate),
            "console page": (page, SHARE * (reads or 0)),
            "read": (read, SHARE * (reads or 0)),
        }
        results = dict(zip(kinds, await asyncio.gather(*(
            _open_loop(call, rate, seconds, n) for n, (call, rate) in enumerate(
                kinds.values()))), strict=True))
    outcome = Outcome()
    for kind, result in results.items():
        rate = kinds[kind][1]
        outcome.rows.append(Row(
            f"{MEASURE}: p99 {kind}", database, "ms",
            result.percentile_ms(99) if result.done else None, None,
            Goal("below", GOALS_MS[kind], "ms"),
            f"{result.done} arrivals at {rate:.1f}/s (5 % of its capacity) over "
            f"{seconds:.0f} s, all four kinds at once; p50 {result.percentile_ms(50):.0f} ms"
            + (f"; first failure: {result.first_failure}" if result.failures else ""),
            (result.failures, 0)))
        outcome.distributions.append(Distribution(MEASURE, database, "crmflow",
                                                  result.latencies, kind))
    return outcome
