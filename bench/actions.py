"""Temporal Cloud actions per process, counted from the recorded histories.

    python -m bench.actions                                       # print the tables
    python -m bench.actions --check docs/explanation/sizing.md    # non-zero if stale
    python -m bench.actions --write docs/explanation/sizing.md    # rewrite the tables

Reads every recorded history (``tests/histories/<WorkflowType>/<scenario>.<label>.json``,
written by ``tests/histories/record.py``) and counts, per history, its events, its workflow
tasks and the actions Temporal Cloud bills for it, by the rules of Temporal Cloud's page
"Temporal Cloud Actions" (ACTIONS_PAGE, https://docs.temporal.io/cloud/actions):

- a workflow started: 1 (``WORKFLOW_EXECUTION_STARTED``; also a run started by
  Continue-As-New, counted in the new run's history as the page's UI does; a run started
  by a Schedule, ``TemporalScheduledById`` set, adds the schedule's 2);
- a child workflow: 2 (``START_CHILD_WORKFLOW_EXECUTION_INITIATED``: the intent and the
  attempt to start it);
- an activity: 1 when scheduled (``ACTIVITY_TASK_SCHEDULED``), and 1 per retry
  (``ACTIVITY_TASK_STARTED``'s ``attempt`` less 1);
- local activities: 1 per workflow task that records markers, however many
  (``MARKER_RECORDED``, grouped by the workflow task that recorded them: "Temporal Cloud
  counts all RecordMarkers from each Workflow Task as one action"), plus their retries
  (``WORKFLOW_TASK_COMPLETED``'s ``meteringMetadata.nonfirstLocalActivityExecutionAttempts``);
- a timer started: 1 (``TIMER_STARTED``);
- a signal: 1, in the history of the workflow that receives it
  (``WORKFLOW_EXECUTION_SIGNALED``); the sender's ``SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED``
  counts nothing there ("the UI shows a billable action only in the signaled Event
  history"), so a signal is never counted twice;
- an update accepted: 1 (``WORKFLOW_EXECUTION_UPDATE_ACCEPTED``; a rejected update is billed
  too but never written to the history);
- a search attribute upsert: 1 per ``UPSERT_WORKFLOW_SEARCH_ATTRIBUTES``, however many
  attributes it sets; none when it sets only ``TemporalChangeVersion`` (a patch's), nor for
  those set at the start;
- an activity heartbeat that reaches the server: 1. Heartbeats are not in the history:
  crmflow's email activity (``activities/email.py``) sends one as soon as the SMTP server
  accepts the message (an attempt's first heartbeat goes out at once), so each email the
  history shows sent (``send_email`` completed with status ``sent``) counts one. A
  conversation longer than ``HEARTBEAT_EVERY`` (5 s) sends more; the recordings cannot
  show them;
- other: a reset (``WORKFLOW_TASK_FAILED`` for a reset), execution options updated, a
  Nexus operation scheduled or its cancel requested: 1 each.

Queries are billed too (one per query a worker answers) and never appear in a history;
the page says which API reads ask the process.

The page's tables are generated here, between marker comments (``<!-- actions:begin -->``
… ``<!-- actions:end -->``, likewise ``volumes`` and ``connections``), so its figures are
always these counts.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HISTORIES = ROOT / "tests" / "histories"
PAGE = ROOT / "docs" / "explanation" / "sizing.md"

ACTIONS_PAGE = "https://docs.temporal.io/cloud/actions"
LIMITS_PAGE = "https://docs.temporal.io/cloud/limits"
NAMESPACE_APS = 500
"""A Temporal Cloud namespace's default limit, actions per second (LIMITS_PAGE: "Default
limit: 500 actions per second (APS)"; it rises with the last 7 days' use, never below)."""
POSTGRESQL_MAX_CONNECTIONS = 100
"""PostgreSQL's default ``max_connections`` (its documentation, "Connections and
Authentication": "typically 100")."""
SECONDS_A_DAY = 86_400
TIMES = "\u00d7"

KINDS = ("start", "activities", "local activities", "timers", "signals", "updates",
         "search attributes", "heartbeats", "other")
"""The kinds of action, in the table's order."""

SEND_EMAIL = "send_email"  # workflows.contracts.SEND_EMAIL (bench reads no workflow code)
CHANGE_VERSION = "TemporalChangeVersion"
SCHEDULED_BY = "TemporalScheduledById"
SCHEDULE_START = 2
"""A Schedule's run: 2 actions for the schedule, besides the workflow's start."""
CHILD_START = 2
OTHER = ("WORKFLOW_EXECUTION_OPTIONS_UPDATED", "NEXUS_OPERATION_SCHEDULED",
         "NEXUS_OPERATION_CANCEL_REQUESTED")
"""Events of 1 action each that none of crmflow's processes makes today."""
RESET = "WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW"
"""A reset: the failed workflow task it leaves in the history is 1 action."""


@dataclass(frozen=True)
class Typical:
    """The recorded scenario taken as a process's usual instance, and why."""

    obj: str
    scenario: str
    why: str


TYPICAL: dict[str, Typical] = {
    "LeadToSale": Typical(
        "lead", "dormant",
        "most leads never answer: no download, extra case studies, the offer, then "
        "dormant"),
    "QuoteApproval": Typical(
        "quote", "small-discount-lost",
        "a discount up to the policy's threshold (20 % by default) is validated at "
        "once, with no manager (approvals taken as the exception); sent, then answered"),
    "InvoiceDunning": Typical(
        "invoice", "partly-paid-then-paid",
        "reminded, then paid, without a dispute"),
    "SupportTicket": Typical(
        "ticket", "ticket-answered-resolved-rated",
        "the plain path: answered, resolved, rated"),
    "SaleToProject": Typical(
        "project", "reminded-invoiced-closed",
        "run to its end: milestones done and invoiced, then closed"),
}
"""The business objects the volumes table counts, each with its usual scenario."""


@dataclass
class Count:
    """One history's figures."""

    events: int = 0
    workflow_tasks: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)

    @property
    def actions(self) -> int:
        return sum(self.by_kind.values())


@dataclass(frozen=True)
class Row:
    process: str
    scenario: str
    label: str
    count: Count


def _attributes(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """The event's ``…EventAttributes`` (empty when it has none)."""
    return next((value for key, value in event.items() if key.endswith("EventAttributes")), {})


def _payload_json(payloads: Mapping[str, Any] | None) -> Any:
    """The first payload of a JSON-encoded ``payloads``, decoded; None if there is none."""
    items = (payloads or {}).get("payloads") or []
    if not items:
        return None
    encoding = base64.b64decode(items[0].get("metadata", {}).get("encoding", "")).decode()
    if encoding != "json/plain":
        return None
    return json.loads(base64.b64decode(items[0].get("data", "")))


def _email_sent(completed: Mapping[str, Any], scheduled: Mapping[str, Any] | None) -> bool:
    if scheduled is None or scheduled.get("activityType", {}).get("name") != SEND_EMAIL:
        return False
    result = _payload_json(completed.get("result"))
    return isinstance(result, dict) and result.get("status") == "sent"


def count(history: Mapping[str, Any]) -> Count:
    """The events, workflow tasks and billable actions of one history (its JSON form, as
    ``WorkflowHistory.to_json`` writes it)."""
    events = list(history["events"])
    found = Count(events=len(events))
    kinds = found.by_kind
    scheduled: dict[str, Mapping[str, Any]] = {}
    tasks_with_markers: set[str] = set()
    for event in events:
        kind = event["eventType"].removeprefix("EVENT_TYPE_")
        attributes = _attributes(event)
        if kind == "WORKFLOW_TASK_SCHEDULED":
            found.workflow_tasks += 1
        elif kind == "WORKFLOW_EXECUTION_STARTED":
            kinds["start"] += 1
            fields = attributes.get("searchAttributes", {}).get("indexedFields", {})
            if SCHEDULED_BY in fields:
                kinds["other"] += SCHEDULE_START
        elif kind == "START_CHILD_WORKFLOW_EXECUTION_INITIATED":
            kinds["other"] += CHILD_START
        elif kind == "ACTIVITY_TASK_SCHEDULED":
            kinds["activities"] += 1
            scheduled[event["eventId"]] = attributes
        elif kind == "ACTIVITY_TASK_STARTED":
            kinds["activities"] += max(int(attributes.get("attempt", 1)) - 1, 0)
        elif kind == "ACTIVITY_TASK_COMPLETED":
            if _email_sent(attributes, scheduled.get(attributes.get("scheduledEventId", ""))):
                kinds["heartbeats"] += 1
        elif kind == "MARKER_RECORDED":
            tasks_with_markers.add(str(attributes.get("workflowTaskCompletedEventId")))
        elif kind == "WORKFLOW_TASK_COMPLETED":
            metering = attributes.get("meteringMetadata", {})
            kinds["local activities"] += int(
                metering.get("nonfirstLocalActivityExecutionAttempts", 0))
        elif kind == "TIMER_STARTED":
            kinds["timers"] += 1
        elif kind == "WORKFLOW_EXECUTION_SIGNALED":
            kinds["signals"] += 1
        elif kind == "WORKFLOW_EXECUTION_UPDATE_ACCEPTED":
            kinds["updates"] += 1
        elif kind == "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES":
            fields = attributes.get("searchAttributes", {}).get("indexedFields", {})
            if set(fields) - {CHANGE_VERSION}:
                kinds["search attributes"] += 1
        elif kind in OTHER or (kind == "WORKFLOW_TASK_FAILED"
                               and attributes.get("cause") == RESET):
            kinds["other"] += 1
    kinds["local activities"] += len(tasks_with_markers)
    found.by_kind = +kinds  # the kinds it has, none at 0
    return found


def rows(histories: Path = HISTORIES) -> list[Row]:
    """One row per recorded history, by process then scenario then label."""
    found = []
    for path in sorted(histories.glob("*/*.json")):
        scenario, _, label = path.name.removesuffix(".json").partition(".")
        history = json.loads(path.read_text(encoding="utf-8"))
        found.append(Row(path.parent.name, scenario, label, count(history)))
    return found


def typical_rows(all_rows: Iterable[Row]) -> dict[str, tuple[Row, Row]]:
    """For each process of TYPICAL: its typical scenario's latest recording, and its most
    costly recording."""
    by_process: dict[str, list[Row]] = {}
    for row in all_rows:
        by_process.setdefault(row.process, []).append(row)
    chosen = {}
    for process, typical in TYPICAL.items():
        recorded = by_process.get(process, [])
        usual = [r for r in recorded if r.scenario == typical.scenario]
        if not usual:
            raise LookupError(f"no recorded history {process}/{typical.scenario}")
        latest = max(usual, key=lambda r: r.label)
        costly = max(recorded, key=lambda r: (r.count.actions, r.label))
        chosen[process] = (latest, costly)
    return chosen


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:,.1f}"


def actions_table(all_rows: list[Row]) -> str:
    head = ["process", "scenario", "recorded", "events", "workflow tasks", "actions", *KINDS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * 3 + "---:|" * (len(head) - 3)]
    for row in all_rows:
        c = row.count
        cells = [row.process, row.scenario, row.label, str(c.events), str(c.workflow_tasks),
                 f"**{c.actions}**", *(str(c.by_kind[k]) for k in KINDS)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def volumes_table(all_rows: list[Row], aps: int = NAMESPACE_APS) -> str:
    head = ["object", "process", "typical scenario", "actions", "objects a second",
            "objects a day", "most costly recorded", "actions", "objects a day"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|---|---:|---:|---:|---|---:|---:|"]
    reasons = []
    for process, (usual, costly) in typical_rows(all_rows).items():
        typical = TYPICAL[process]
        a, worst = usual.count.actions, costly.count.actions
        lines.append("| " + " | ".join([
            typical.obj, process, usual.scenario, str(a), _number(aps / a),
            _number(aps * SECONDS_A_DAY / a), costly.scenario, str(worst),
            _number(aps * SECONDS_A_DAY / worst),
        ]) + " |")
        reasons.append(f"- {typical.obj.capitalize()}: *{usual.scenario}*: {typical.why}.")
    intro = (f"At {aps} actions a second, the default limit of a namespace, if the namespace "
             "ran only that process:")
    return "\n".join([intro, "", *lines, "", "Why each scenario is taken as typical:", "",
                      *reasons, "", mix_sentence(all_rows, aps)])


MIX = {"lead": 10_000, "quote": 2_000, "invoice": 1_000, "ticket": 500, "project": 50}
"""An example day of a company, objects started a day, for the sentence under the table."""


def mix_sentence(all_rows: list[Row], aps: int = NAMESPACE_APS) -> str:
    """What the example day (MIX) costs at each object's typical scenario."""
    cost = {TYPICAL[p].obj: usual.count.actions for p, (usual, _) in typical_rows(all_rows).items()}
    day = sum(n * cost[obj] for obj, n in MIX.items())
    per_second = day / SECONDS_A_DAY
    objects = ", ".join(f"{n:,} {obj}s" for obj, n in MIX.items())
    terms = " + ".join(f"{n:,} {TIMES} {cost[obj]}" for obj, n in MIX.items())
    return (f"The processes share the limit. For example, a day of {objects} costs {terms} = "
            f"{day:,} actions, {per_second:,.1f} a second on average: "
            f"{per_second / aps:.1%} of the default limit.")


def pool_limits() -> tuple[int, int]:
    """The CRM database pool of one API or worker process on PostgreSQL, as
    ``crm.db.create_engine`` makes it: its size and its overflow."""
    from crm import db  # the CRM's engine: only this table needs it

    engine = db.create_engine("postgresql+asyncpg://crmflow@localhost/crmflow")
    pool: Any = engine.sync_engine.pool
    return int(pool.size()), int(pool._max_overflow)


DEPLOYMENTS = ((1, 1), (2, 1), (2, 3), (4, 4), (8, 8))
"""API processes and workers: examples for the connections table."""


def connections_table(size: int, overflow: int) -> str:
    each = size + overflow
    lines = [f"Each API or worker process keeps a pool of {size} connections and opens up to "
             f"{overflow} more under load: at most {each} PostgreSQL connections each "
             f"(connections = processes {TIMES} ({size} + {overflow})).", "",
             "| API processes | workers | connections at most | within PostgreSQL's default "
             f"{POSTGRESQL_MAX_CONNECTIONS} |", "|---:|---:|---:|---|"]
    for api, workers in DEPLOYMENTS:
        total = (api + workers) * each
        fits = "yes" if total <= POSTGRESQL_MAX_CONNECTIONS else "**no**"
        lines.append(f"| {api} | {workers} | {total} | {fits} |")
    return "\n".join(lines)


def blocks(histories: Path = HISTORIES) -> dict[str, str]:
    """Each generated block of the page, by its marker name."""
    all_rows = rows(histories)
    return {
        "actions": actions_table(all_rows),
        "volumes": volumes_table(all_rows),
        "connections": connections_table(*pool_limits()),
    }


def _marker(name: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- {name}:begin -->\n)(.*?)(\n?<!-- {name}:end -->)", re.DOTALL)


def stale(page: Path = PAGE, generated: Mapping[str, str] | None = None) -> list[str]:
    """The blocks of the page that differ from what the histories give (or are missing)."""
    text = page.read_text(encoding="utf-8")
    generated = blocks() if generated is None else generated
    found = []
    for name, body in generated.items():
        match = _marker(name).search(text)
        if match is None or match.group(2).strip() != body.strip():
            found.append(name)
    return found


def write(page: Path = PAGE, generated: Mapping[str, str] | None = None) -> None:
    """Rewrite the page's generated blocks (each must have its markers)."""
    text = page.read_text(encoding="utf-8")
    generated = blocks() if generated is None else generated
    for name, body in generated.items():
        match = _marker(name).search(text)
        if match is None:
            raise SystemExit(f"{page}: no <!-- {name}:begin --> … <!-- {name}:end --> block")
        text = (text[:match.start()] + f"{match.group(1)}{body}\n{match.group(3).lstrip()}"
                + text[match.end():])
    page.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.actions",
                                     description=__doc__.split("\n\n")[0])
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--check", type=Path, metavar="PAGE",
                        help="exit 1 if the page's generated blocks are stale")
    action.add_argument("--write", type=Path, metavar="PAGE",
                        help="rewrite the page's generated blocks")
    args = parser.parse_args(argv)
    if args.check:
        if found := stale(args.check):
            print(f"{args.check}: stale: {', '.join(found)} (python -m bench.actions "
                  f"--write {args.check})", file=sys.stderr)
            return 1
        print(f"{args.check}: up to date")
        return 0
    if args.write:
        write(args.write)
        print(f"{args.write}: written")
        return 0
    for name, body in blocks().items():
        print(f"## {name}\n\n{body}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
