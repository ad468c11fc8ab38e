"""The floor's correctness audit: what ``tests/e2e/fault_workload.py`` checks of crmflow,
asked of the floor's rows, processes and emails.

- **lost**: a floor lead whose start is not marked, whose status is not ``nurturing``, or
  whose welcome email the SMTP server never accepted; a floor quote whose CRM status
  disagrees with its ended process, or a won one without its sale; an outbox row the
  server never accepted;
- **duplicated**: a sale made twice (a status history row cannot be: its key is unique); a
  Message-ID the server accepted more than once, which a killed worker may cause once
  (``WINDOW``), as crmflow's;
- **unasked**: a status change of a floor object no step asked for (every one the processes
  write is keyed ``<workflow id>:<status>``; the request's own are the first, unkeyed).

``audit`` answers the findings, an empty list when the floor kept its guarantees. The bench
runs it after each run's measures (its failures column), the fault test under killed workers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from temporalio.client import Client

from bench.floor.sql import Database, connect

FIRST_STATUS = {"lead": "new", "quote": "submitted"}
WINDOW = "duplicated in the window"
"""An email accepted twice: a worker killed after the SMTP server accepted it and before the
heartbeat saying so reached Temporal (crmflow's documented window, ``activities.email``);
a fault test allows as many as it killed workers, a run without faults none."""


async def audit(database_url: str, client: Client, accepted: Mapping[str, int],
                ) -> list[str]:
    """Findings over every floor object; ``accepted``: SMTP acceptances by outbox key."""
    db = await connect(database_url, pool=2)
    try:
        leads = await _rows(db, "SELECT l.id, l.status, s.started_at FROM leads l JOIN "
                                "process_starts s ON s.object_type = 'lead' AND s.object_id = l.id "
                                "AND s.process = 'floor_lead'")
        quotes = await _rows(db, "SELECT q.id, q.status, (SELECT count(*) FROM sales s WHERE "
                                 "s.quote_id = q.id) FROM quotes q JOIN process_starts p ON "
                                 "p.object_type = 'quote' AND p.object_id = q.id "
                                 "AND p.process = 'floor_quote'")
        changes = await _rows(db, "SELECT workflow_id, to_status, idempotency_key FROM "
                                  "status_changes WHERE workflow_id LIKE 'floor-%'")
        outbox = await _rows(db, "SELECT idempotency_key, status FROM email_outbox "
                                 "WHERE workflow_id LIKE 'floor-%'")
    finally:
        await db.close()
    found: list[str] = []
    ended = await _results(client, "FloorQuote")
    ended_by_hand = {e.id async for e in client.list_workflows(
        "(WorkflowType = 'FloorLead' OR WorkflowType = 'FloorQuote') "
        "AND ExecutionStatus = 'Terminated'")}
    sent = {key for key, status in outbox if status == "sent"}
    for lead_id, status, started_at in leads:
        wid = f"floor-lead-{lead_id}"
        if wid in ended_by_hand:  # the bench ends the processes a measure left half-way
            continue
        if started_at is None:
            found.append(f"lost: {wid}'s start is not marked")
        if status != "nurturing":
            found.append(f"lost: {wid} is {status}, not nurturing")
        if accepted.get(f"{wid}:welcome", 0) == 0:
            found.append(f"lost: {wid}'s welcome email never reached the SMTP server")
    for quote_id, status, sales in quotes:
        wid = f"floor-quote-{quote_id}"
        if wid in ended and ended[wid] != status:
            found.append(f"lost: {wid} ended {ended[wid]} but the CRM says {status}")
        if status == "won" and sales != 1:
            found.append(f"{'lost' if sales == 0 else 'duplicated'}: {wid} won with {sales} "
                         f"sales")
    for key, status in outbox:
        if status == "sent" and accepted.get(key, 0) == 0:
            found.append(f"lost: outbox {key} is marked sent, the SMTP server never had it")
    for key, times in accepted.items():
        if key.rpartition(":")[0] in ended_by_hand:  # cut short by the bench, maybe mid-step
            continue
        if key.startswith("floor-") and times > 1:
            found.append(f"{WINDOW}: {key} accepted {times} times")
        if key.startswith("floor-") and key not in sent:
            found.append(f"lost: {key} reached the SMTP server but its row is not sent")
    for wid, to_status, key in changes:
        kind = wid.split("-")[1]
        if key is None and to_status != FIRST_STATUS.get(kind):
            found.append(f"unasked: {wid} moved to {to_status} with no step asking")
    return found


async def _rows(db: Database, sql: str) -> list[tuple[Any, ...]]:
    async with db.transaction() as t:
        rows = await t.fetchall(sql)
    return [tuple(r) for r in rows]


async def _results(client: Client, workflow_type: str) -> dict[str, str]:
    """What each completed process of the type ended with, by workflow id."""
    done = {}
    async for execution in client.list_workflows(
            f"WorkflowType = '{workflow_type}' AND ExecutionStatus = 'Completed'"):
        done[execution.id] = str(await client.get_workflow_handle(
            execution.id, run_id=execution.run_id).result())
    return done
