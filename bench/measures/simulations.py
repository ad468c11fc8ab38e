"""Measure 8: simulations — past quote cases replayed, and the live processes meanwhile.

crmflow: ``loads.simulated`` past quote submissions seeded as the live process leaves them
(a recorded start, and for one in three a manager's rejection on day 3), simulated by one
``POST /simulations`` (a 2-day timeout instead of 5) and followed until done: cases per
second, each case replayed twice. Bare: as many pairs of ``BareTimeline`` runs (a daily
activity and timer for the 5 days a quote waits) on a time-skipping server of the bench's
own — the floor of replaying a case. Then the live side: ``POST /leads`` by 8 callers for a
few seconds alone, and again while a simulation runs (the "bare" column of that row is the
rate alone): what a simulation costs the live processes on the same machine.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select
from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench import seed
from bench.bare_workflows import REPORT, BareTimeline, Timeline
from bench.http import LeanClient
from bench.load import closed_loop
from bench.loads import Loads
from bench.outcomes import Goal, Outcome, Row
from bench.stack import Stack
from crm import db
from crm.launcher import _adapter
from crm.models import ProcessStart, Quote, StatusChange
from crm.models.base import utcnow
from simulation.engine import quiet_runtime, test_server
from workflows.contracts import Person
from workflows.quote_types import QuoteApprovalInput, QuotedLine

MEASURE = "8 simulation"
LIVE_CALLERS = 8


async def _seed_cases(stack: Stack, count: int) -> None:
    """Past submissions of seeded quotes: started 60 days ago, a minute apart."""
    engine = db.create_engine(stack.database_url)
    try:
        quotes = await seed.quotes_for_processes(engine, stack.people, count,
                                                 discount_pct=Decimal("25"),
                                                 status="validated")
        rep = stack.people.rep
        began = utcnow() - timedelta(days=60)
        async with db.unit_of_work(db.create_sessions(engine)) as session:
            created = dict((await session.execute(
                select(Quote.id, Quote.created_at)
                .where(Quote.id.in_([quote.quote_id for quote in quotes])))).all())
            for n, quote in enumerate(quotes):
                started = began + timedelta(minutes=n)
                data = QuoteApprovalInput(
                    quote.quote_id, quote.lead_id, 1, Person(rep.user_id, rep.name, rep.email),
                    stack.people.team_id, f"Customer {n}", quote.account_id,
                    quote.contact_name, quote.contact_email, "EUR",
                    [QuotedLine("Licence", Decimal(1), Decimal(1000))], Decimal(25),
                    Decimal(750))
                session.add(ProcessStart(
                    process="quote_approval", workflow_id=f"quote-{quote.quote_id}",
                    object_type="quote", object_id=quote.quote_id, started_at=started,
                    input=_adapter(QuoteApprovalInput).dump_json(data).decode()))
                if n % 3 == 0:
                    session.add(StatusChange(
                        object_type="quote", object_id=quote.quote_id, to_status="rejected",
                        actor=f"user:{stack.people.manager.user_id}",
                        actor_user_id=stack.people.manager.user_id, reason="too much",
                        changed_at=started + timedelta(days=3),
                        entered_at=created[quote.quote_id]))
    finally:
        await engine.dispose()


async def _simulate(http: LeanClient) -> tuple[float, int]:
    """One simulation of the seeded cases, followed until done: its seconds and cases."""
    began = time.perf_counter()
    asked = (await http.post("/simulations", {
        "process": "quote_approval", "policy": {"approval_timeout": "P2D"},
        "cases": {"from": (utcnow() - timedelta(days=61)).isoformat()}})).json()
    while True:
        found = (await http.get(f"/simulations/{asked['id']}")).json()
        if found["status"] in ("done", "failed"):
            break
        await asyncio.sleep(0.2)
    if found["status"] != "done":
        raise RuntimeError(f"the simulation failed: {found['error']}")
    return time.perf_counter() - began, int(found["progress"]["done"])


async def _bare(cases: int) -> float:
    """Seconds for ``cases`` pairs of BareTimeline runs on a time-skipping server."""
    @activity.defn(name=REPORT)
    async def nothing(tag: str) -> None:
        return None

    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=test_server(),
                                                       runtime=quiet_runtime())
    try:
        async with Worker(env.client, task_queue="bench-simulation", workflows=[BareTimeline],
                          activities=[nothing]):
            began = time.perf_counter()
            for n in range(cases * 2):
                await env.client.execute_workflow(BareTimeline.run, Timeline(5),
                                                  id=f"bare-case-{n}",
                                                  task_queue="bench-simulation")
            return time.perf_counter() - began
    finally:
        await env.shutdown()


async def _live_starts(stack: Stack, loads: Loads, tag: str) -> float:
    auth = {"Authorization": f"Bearer {stack.people.website.token}"}
    async with LeanClient(stack.api_url, connections=LIVE_CALLERS, headers=auth) as http:

        async def sign_up(i: int) -> None:
            await http.post("/leads", {"name": f"Live {i}", "email": f"live-{tag}-{i}@x.example",
                                       "team_id": stack.people.team_id})

        result = await closed_loop(sign_up, concurrency=LIVE_CALLERS, count=loads.starts,
                                   seconds=loads.starts_seconds, grace=loads.grace)
    return result.rate


async def measure(stack: Stack, loads: Loads) -> Outcome:
    await _seed_cases(stack, loads.simulated)
    auth = {"Authorization": f"Bearer {stack.people.admin.token}"}
    async with LeanClient(stack.api_url, connections=2, headers=auth, timeout=600) as http:
        seconds, cases = await _simulate(http)
        bare_seconds = await _bare(cases)
        alone = await _live_starts(stack, loads, f"alone-{int(time.time())}")
        running = asyncio.create_task(_simulate(http))
        await asyncio.sleep(0.5)  # under way
        during = await _live_starts(stack, loads, f"during-{int(time.time())}")
        await running
    return Outcome(rows=[
        Row(f"{MEASURE}: cases simulated", stack.database, "/s", cases / seconds,
            cases / bare_seconds, None,
            f"{cases} past quote cases, each twice (in force, 2-day timeout), by one POST "
            f"/simulations followed to done in {seconds:.1f} s vs {cases} pairs of "
            f"BareTimeline runs on a time-skipping server in {bare_seconds:.1f} s"),
        Row(f"{MEASURE}: live starts while one runs", stack.database, "/s", during, alone,
            Goal("ratio_at_least", 0.8),
            f"POST /leads by {LIVE_CALLERS} callers during a simulation vs alone (the "
            f"'bare' column: the same starts with no simulation running)"),
    ])
