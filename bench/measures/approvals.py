"""Measure 3: the approval round trip — a manager's decision, answered.

crmflow: ``POST /quotes/{id}/decision`` (approve, with a comment) by the team's manager, on
quotes pending approval: the API hands the decision to the quote's process (an update, its
validator checking who may decide and what the status allows) and answers with the quote as
it now is. Bare: ``execute_update`` of ``BareApproval.decide`` (with a validator). 16
concurrent deciders, each process decided once. Goal (issue 12, goal 2): p99 at most 1.2x
bare.

The processes are the timer storm's (``bench.measures.storm``), pending and reminded once:
preparing thousands of pending quotes twice would not fit the run's time.
"""

from __future__ import annotations

from bench.bare_workflows import Decision
from bench.cpu import cpu_row, metered
from bench.http import LeanClient
from bench.load import LoadResult, closed_loop, failure_note
from bench.loads import Loads
from bench.measures.storm import Pending
from bench.outcomes import Distribution, Goal, Outcome, Row
from bench.stack import Stack

MEASURE = "3 approval round trip"


async def measure(stack: Stack, loads: Loads, pending: Pending) -> Outcome:
    manager = stack.people.manager
    decision = Decision(approve=True, by_user_id=manager.user_id)

    async def decide_bare(i: int) -> None:
        handle = stack.client.get_workflow_handle(pending.bare_ids[i])
        assert await handle.execute_update("decide", decision) == "validated"

    with metered(stack) as bare_cpu:
        bare = await closed_loop(decide_bare, concurrency=loads.deciders,
                                 count=min(loads.approvals, len(pending.bare_ids)),
                                 seconds=loads.approvals_seconds, grace=loads.grace)

    auth = {"Authorization": f"Bearer {manager.token}"}
    async with LeanClient(stack.api_url, connections=loads.deciders, headers=auth) as http:

        async def decide(i: int) -> None:
            answer = await http.post(f"/quotes/{pending.quote_ids[i]}/decision",
                                     {"approve": True, "comment": "ok"})
            if answer.json()["status"] != "validated":
                raise RuntimeError(f"quote {pending.quote_ids[i]}: {answer.json()['status']}")

        async with stack.profiled("approvals", "api", "worker"):
            with metered(stack) as ours_cpu:
                ours = await closed_loop(decide, concurrency=loads.deciders,
                                         count=min(loads.approvals, len(pending.quote_ids)),
                                         seconds=loads.approvals_seconds, grace=loads.grace)
    stack.check_alive()
    outcome = _outcome(stack.database, ours, bare, loads.deciders)
    outcome.rows.append(cpu_row(MEASURE, stack.database, "decision", ours_cpu, ours.done,
                                bare_cpu, bare.done))
    return outcome


def _outcome(database: str, ours: LoadResult, bare: LoadResult, deciders: int) -> Outcome:
    detail = (f"POST /quotes/{{id}}/decision vs execute_update with a validator, {deciders} "
              f"concurrent: crmflow {ours.done}, bare {bare.done}; "
              f"{failure_note(ours, bare)}").strip("; ")
    failures = (ours.failures, bare.failures)
    return Outcome(
        rows=[
            Row(f"{MEASURE}: rate", database, "/s", ours.rate, bare.rate, None, detail,
                failures),
            Row(f"{MEASURE}: p50", database, "ms", ours.percentile_ms(50),
                bare.percentile_ms(50), None, failures=failures),
            Row(f"{MEASURE}: p99", database, "ms", ours.percentile_ms(99),
                bare.percentile_ms(99), Goal("ratio_at_most", 1.2), failures=failures),
        ],
        distributions=[Distribution(MEASURE, database, "crmflow", ours.latencies),
                       Distribution(MEASURE, database, "bare", bare.latencies)],
    )
