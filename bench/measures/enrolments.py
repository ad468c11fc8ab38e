"""Measure 7: your own workflows — a definition of the largest size the policy allows,
enrolled on 1,000 objects at once.

crmflow: a definition of ``max_steps`` (50) steps — an email, a 3-day wait, then branches,
notifications, tasks and emails down to its end — published, and 1,000 leads (seeded, no
process of their own) enrolled by one ``POST /workflow-definitions/{id}/enrol`` while
``crmflow worker`` is held. Timed: the enrol request's answer (rows recorded and committed,
then every enrolment started), then, the worker released, the rate at which it takes the
enrolments in (the first email of each reaching the SMTP sink), the worker's memory per open
enrolment, and the history of one waiting enrolment (events, and its size: the definition
travels in the start's input). Bare: the same count of ``BareWaiting`` processes (one
activity, then a 3-day timer), taken in the same way — the floor of "started, one side effect,
then waiting". No goal of its own: issue 22 asks for the figures.
"""

from __future__ import annotations

import time
from typing import Any

from bench import seed, starting
from bench.bare_workflows import Waiting
from bench.http import LeanClient
from bench.loads import Loads
from bench.measures.intake import SLEEP, Side, held_intake
from bench.outcomes import Outcome, Row
from bench.stack import Stack
from crm import db
from crm.policies import Policies

MEASURE = "7 own workflow"


def largest_definition(steps: int | None = None) -> dict[str, Any]:
    """A valid definition of ``steps`` steps (the policy's maximum by default): every kind
    of step that does not wait for a person, each reachable."""
    count = steps or Policies().own_workflows.max_steps
    body: list[dict[str, Any]] = [{"id": "hello", "send_email": {"template": "hello"}},
                                  {"id": "pause", "wait": {"for": "3d"}}]
    kinds = ("branch", "notify", "task", "send_email")
    while len(body) < count - 1:
        n, kind = len(body), kinds[len(body) % len(kinds)]
        if kind == "branch":
            body.append({"id": f"s{n}", "branch": {
                "if": 'lead.status == "new" and lead.company != null',
                "then": f"s{n + 1}" if n + 1 < count - 1 else "done"}})
        elif kind == "notify":
            body.append({"id": f"s{n}", "notify": {"to": "owner", "template": "note"}})
        elif kind == "task":
            body.append({"id": f"s{n}", "task": {"title": f"Step {n}: call {{lead.name}}",
                                                 "assign": "owner", "due": "1d"}})
        else:
            body.append({"id": f"s{n}", "send_email": {"template": "hello"}})
    body.append({"id": "done", "end": {"outcome": "all steps done"}})
    return {"name": f"Largest ({count} steps)", "object": "lead", "trigger": {"when": "manual"},
            "templates": {"hello": {"subject": "Hello {lead.name}", "body": "From {lead.company}."},
                          "note": {"subject": "About {lead.name}", "body": "Step done."}},
            "steps": body}


async def measure(stack: Stack, loads: Loads) -> Outcome:
    engine = db.create_engine(stack.database_url)
    try:
        lead_ids = await seed.leads(engine, loads.enrolments, team_id=stack.people.team_id)
    finally:
        await engine.dispose()
    auth = {"Authorization": f"Bearer {stack.people.admin.token}"}
    async with LeanClient(stack.api_url, connections=1, headers=auth, timeout=600) as http:
        made = (await http.post("/workflow-definitions",
                                {"definition": largest_definition()})).json()
        await http.post(f"/workflow-definitions/{made['id']}/publish", {})
        answered: list[float] = []
        process_ids: list[str] = []

        async def enrol() -> None:
            began = time.perf_counter()
            answer = await http.post(f"/workflow-definitions/{made['id']}/enrol",
                                     {"object_ids": lead_ids})
            answered.append(time.perf_counter() - began)
            process_ids.extend(e["process_id"] for e in answer.json())

        ours = await held_intake(stack, "worker", enrol,
                           {f"definition-{made['id']}-lead-{i}:hello:1":
                            f"definition-{made['id']}-lead-{i}" for i in lead_ids},
                           stack.mail.arrivals, loads.intake_seconds)
    history_bytes = 0
    if process_ids:
        history = await stack.client.get_workflow_handle(process_ids[0]).fetch_history()
        history_bytes = len(history.to_json().encode())
    bare_ids = [f"enrolment-floor-{k}" for k in range(max(ours.taken_in, 1))]
    started: list[float] = []

    async def start_bare() -> None:
        began = time.perf_counter()
        await starting.start_bare(stack, "BareWaiting", bare_ids, Waiting(SLEEP))
        started.append(time.perf_counter() - began)

    bare = await held_intake(stack, "bare", start_bare, {f"in {i}": i for i in bare_ids},
                       stack.reports, loads.intake_seconds)
    return _outcome(stack.database, ours, bare, answered[0] if answered else None,
                    started[0] if started else None, len(process_ids), history_bytes)


def _outcome(database: str, ours: Side, bare: Side, enrol_seconds: float | None,
             bare_seconds: float | None, enrolled: int, history_bytes: int) -> Outcome:
    steps = len(largest_definition()["steps"])
    return Outcome(rows=[
        Row(f"{MEASURE}: enrol in one request", database, "s", enrol_seconds, bare_seconds,
            None, f"one POST /workflow-definitions/{{id}}/enrol of {enrolled:,} leads in a "
                  f"{steps}-step definition (rows committed, then every enrolment started) "
                  f"vs as many BareWaiting starts"),
        Row(f"{MEASURE}: enrolments taken in", database, "/s", ours.rate, bare.rate, None,
            f"worker released: first email of each vs first bare activity; crmflow "
            f"{ours.taken_in}/{ours.queued} in {ours.seconds:.1f} s"),
        Row(f"{MEASURE}: worker memory per open enrolment", database, "KiB", ours.worker_kib,
            bare.worker_kib, None,
            f"history of a waiting enrolment: {ours.events} events (bare {bare.events}), "
            f"{history_bytes / 1024:.0f} KiB as JSON"),
    ])
