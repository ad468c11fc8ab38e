"""What runs while the fault tests break things, and the audit afterwards.

The workload is every kind of process, driven through the API as people and outside systems
drive it, in waves: leads nurtured to their last email then disqualified; leads that
download the white paper, are qualified by their rep and quoted (approved by a manager or
validated by the timeout rule), sent, won — which starts the sale's project, whose
milestone, completed, issues an invoice, which climbs its dunning ladder until paid, and
the project closes; invoices issued by hand, dunned, paid; tickets acknowledged, routed,
answered, resolved, rated or closed by their window. Short policy durations make each story
last tens of seconds. Every request retries on 503 (with its ``Idempotency-Key``) and on a
lost connection, as a client should; any other 5xx, and any 503 that is not problem+json
with ``Retry-After``, is a finding.

The audit says what the figures in the README are: processes that did not end as expected
(or whose CRM row disagrees with the workflow's result) are lost; emails in the outbox the
SMTP server never accepted are lost; a Message-ID the server accepted twice is duplicated
(the documented window: a worker killed between acceptance and the outbox commit); so is a
CRM object made twice; a status change or a task in the CRM that its process's history
never asked for is a change the process never made.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import func, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter

from crm import db
from crm.models import (
    Enrolment,
    Invoice,
    Lead,
    OutboxEmail,
    ProcessStart,
    Project,
    Quote,
    StatusChange,
    Task,
    Ticket,
)
from crm.repo import people
from crm.repo.outbox import UNDELIVERED_TASK
from tests import factories
from tests.e2e.fault_stack import FaultStack
from tests.replaying import worker_replayer
from tests.waiting import eventually
from workflows.contracts import CREATE_TASK, RECORD_STATUS, StatusToRecord, TaskToCreate

POLICIES = """
[lead_nurturing]
step_delay = "PT2S"
content_wait = "PT2S"
max_loops = 1
call_task_due = "PT1H"
lead_ttl = "P1D"

[quote_approval]
discount_threshold_pct = 20
approval_timeout = "PT15S"
on_timeout = "validate"
reminder_every = "PT5S"
quote_validity = "PT30M"

[project]
milestone_reminder = "PT30M"
default_template = "fault-drill"
invoicing = "on_milestone"
payment_terms = "PT1S"

[dunning]
late_fee_pct = 5
levels = [
  { offset = "-P2D", actions = ["email"], template = "dunning_courtesy" },
  { offset = "-PT47H59M57S", actions = ["email"], template = "dunning_reminder" },
  { offset = "-PT47H59M54S", actions = ["email"], template = "dunning_reminder" },
]

[support]
agent_capacity = 1000
reopen_window = "PT4S"
waiting_reminder = "PT30M"
auto_close_after = "PT30M"
"""
"""Seconds instead of days. The invoices are due the day they are issued and their ladder's
levels fall before it, so each level comes late and the next follows 3 s after it (a level
that comes late pushes the rest back); a lead's TTL is long, so a lead waits for its rep
however long an outage lasts."""

PROJECT_TEMPLATE = {
    "name": "fault-drill",
    "milestones": [{"name": "Go-live", "due_after_days": 10, "billable_pct": "100"}],
}
STORY_WAIT = 240.0
"""Seconds a story waits for one step of a process (outages included) before it fails."""
POLL = 1.5

NURTURING = ["welcome", "case_study", "white_paper", "case_study_2", "promotional_offer"]
OWN_WORKFLOW = {
    "name": "Fault drill: welcome, call, a note, a minute, goodbye",
    "object": "lead",
    "trigger": {"when": "created"},
    "templates": {"hello": {"subject": "Hello {lead.name}", "body": "Glad you came."},
                  "bye": {"subject": "Goodbye {lead.name}", "body": "A minute later."}},
    "steps": [{"id": "hello", "send_email": {"template": "hello"}},
              {"id": "call", "task": {"title": "Call {lead.name}", "assign": "owner"}},
              {"id": "note", "set_field": {"field": "company", "value": "Fault drill"}},
              {"id": "pause", "wait": {"for": "1m"}},
              {"id": "bye", "send_email": {"template": "bye"}}],
}
"""Your own workflow every new lead of a drill is enrolled in (``Workload.own_workflow``):
an email, a task, a field written, a durable wait and an email, each to happen exactly
once."""
OWN_STEPS = ["hello", "call", "note", "pause", "bye"]
LADDER = ["level_1", "level_2", "level_3"]


class ApiFinding(AssertionError):
    """The API answered what it never should: a 5xx other than 503, or a bare 503."""


@dataclass
class Expected:
    workflow_id: str
    object_type: str
    object_id: int
    status: str
    emails: set[str] = field(default_factory=set)
    """Purposes its outbox must hold (at least)."""
    exact_emails: bool = False


class Api:
    """The API as a careful client uses it: 503 and lost connections are retried with the
    same Idempotency-Key; everything answered is counted."""

    def __init__(self, url: str, tokens: dict[str, str]) -> None:
        self.http = httpx.AsyncClient(base_url=url, timeout=60,
                                      limits=httpx.Limits(max_connections=40))
        self.tokens = tokens
        self.answers: Counter[str] = Counter()
        self.findings: list[str] = []

    async def close(self) -> None:
        await self.http.aclose()

    async def call(self, method: str, path: str, who: str, *, json: Any = None,
                   key: str | None = None, retry: bool = True,
                   deadline: float = STORY_WAIT) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        give_up = time.monotonic() + deadline
        while True:
            try:
                answer = await self.http.request(method, path, json=json, headers=headers)
            except httpx.TransportError as error:
                self.answers[type(error).__name__] += 1
                if not retry or time.monotonic() > give_up:
                    raise
                await asyncio.sleep(1)
                continue
            self.answers[str(answer.status_code)] += 1
            if answer.status_code == 503:
                self._check_unavailable(method, path, answer)
            elif answer.status_code >= 500:
                self.findings.append(f"{method} {path} → {answer.status_code}: {answer.text}")
                raise ApiFinding(self.findings[-1])
            if answer.status_code != 503 or not retry:
                return answer
            if time.monotonic() > give_up:
                raise AssertionError(f"{method} {path}: still 503 after {deadline:g} s")
            await asyncio.sleep(min(float(answer.headers.get("Retry-After", 1)), 2))

    def _check_unavailable(self, method: str, path: str, answer: httpx.Response) -> None:
        if path == "/health":
            return  # /health says degraded with a plain JSON body: its own format
        kind = answer.headers.get("content-type", "")
        if not kind.startswith("application/problem+json") or "Retry-After" not in \
                answer.headers:
            self.findings.append(f"{method} {path} → 503 without problem+json and "
                                 f"Retry-After: {dict(answer.headers)} {answer.text}")

    async def ok(self, method: str, path: str, who: str, *, json: Any = None,
                 key: str | None = None, expect: tuple[int, ...] = (200, 201, 202)) -> Any:
        answer = await self.call(method, path, who, json=json, key=key)
        if answer.status_code not in expect:
            raise AssertionError(f"{method} {path} as {who}: {answer.status_code} "
                                 f"{answer.text}")
        return answer.json()

    async def get(self, path: str, who: str) -> Any:
        return await self.ok("GET", path, who)


def waiting_at(task: asyncio.Task[Any]) -> str:
    """Where in its story a task waits: the story's innermost line."""
    frames, awaited = [], task.get_coro()
    while awaited is not None and getattr(awaited, "cr_frame", None) is not None:
        frame = awaited.cr_frame  # type: ignore[union-attr]
        frames.append(f"{frame.f_code.co_name}:{frame.f_lineno}")
        awaited = awaited.cr_await  # type: ignore[union-attr]
    return " > ".join(frames[1:]) or "?"


async def until(probe: Callable[[], Awaitable[Any]], what: str,
                timeout: float = STORY_WAIT) -> Any:
    try:
        return await eventually(probe, timeout=timeout, every=POLL + random.random())
    except AssertionError as error:
        raise AssertionError(f"{what}: {error}") from None


@dataclass
class People:
    tokens: dict[str, str]
    by_user_id: dict[int, str]
    sales_team_id: int
    rep_id: int
    accounts: list[int]


async def set_up_people(stack: FaultStack, invoices: int) -> People:
    """The sales team, accounting and support, with their tokens; accounts to invoice."""
    sessions, engine = stack.sessions()
    try:
        team = await factories.sales_team(sessions)
        tokens = await factories.tokens(sessions, team)
        support = await factories.support_team(sessions)
        async with db.unit_of_work(sessions) as session:
            for who, user in (("sam", support.agent), ("tia", support.other_agent),
                              ("lea", support.lead)):
                tokens[who] = await people.issue_token(session=session, user=user)
        accounts = [await factories.customer(sessions, f"Customer {n}",
                                             f"billing{n}@customer{n}.example")
                    for n in range(invoices)]
    finally:
        await engine.dispose()  # type: ignore[attr-defined]
    by_user_id = {team.rep.id: "rep", team.other_rep.id: "other_rep",
                  team.manager.id: "manager", team.other_manager.id: "other_manager",
                  support.agent.id: "sam", support.other_agent.id: "tia"}
    assert team.rep.team_id is not None
    return People(tokens, by_user_id, team.rep.team_id, team.rep.id, accounts)


class Workload:
    def __init__(self, stack: FaultStack, api: Api, who: People) -> None:
        self.stack = stack
        self.api = api
        self.who = who
        self.expected: dict[str, Expected] = {}
        self.stories: list[asyncio.Task[None]] = []
        self.failures: list[str] = []
        self.requested: Counter[str] = Counter()
        """CRM objects asked for, by type: each must exist once."""
        self._numbers = itertools.count(1)
        self._accounts = iter(who.accounts)
        self.own_workflow: int | None = None
        """The definition every new lead is enrolled in, once ``enrol_new_leads`` ran."""

    async def prepare(self) -> None:
        await self.api.ok("POST", "/project-templates", "admin", json=PROJECT_TEMPLATE,
                          key="template-fault-drill")

    async def enrol_new_leads(self) -> None:
        """Publish ``OWN_WORKFLOW``: from now on every lead the stories create is enrolled
        in it too, and the audit expects each enrolment to end completed, its two emails
        sent once."""
        made = await self.api.ok("POST", "/workflow-definitions", "admin",
                                 json={"definition": OWN_WORKFLOW}, key="own-drill")
        await self.api.ok("POST", f"/workflow-definitions/{made['id']}/publish", "admin",
                          key="own-drill-publish")
        self.own_workflow = made["id"]

    async def _expect_enrolment(self, lead_id: int) -> None:
        if self.own_workflow is None:
            return
        path = f"/workflow-definitions/{self.own_workflow}/enrolments"

        async def enrolled() -> dict[str, Any] | None:
            return next((e for e in await self.api.get(path, "admin")
                         if e["object_id"] == lead_id), None)

        found = await until(enrolled, f"lead {lead_id}: its enrolment")
        self.requested["enrolment"] += 1
        self._expect(Expected(found["process_id"], "enrolment", found["id"], "completed",
                              {"hello:1", "bye:1"}, exact_emails=True))

    def _expect(self, expected: Expected) -> None:
        self.expected[expected.workflow_id] = expected

    def launch(self, story: Callable[[int], Awaitable[None]]) -> None:
        n = next(self._numbers)

        async def told() -> None:
            try:
                await story(n)
            except Exception as error:  # the audit lists them all
                self.failures.append(f"{story.__name__} #{n}: {error!r}")

        self.stories.append(asyncio.create_task(told(), name=f"{story.__name__} #{n}"))

    def wave(self, *, nurtured: int = 4, sales: int = 2, invoices: int = 2,
             tickets: int = 2) -> None:
        for _ in range(nurtured):
            self.launch(self.nurtured_lead)
        for _ in range(sales):
            self.launch(self.sale)
        for _ in range(invoices):
            self.launch(self.invoice_by_hand)
        for _ in range(tickets):
            self.launch(self.ticket)

    async def finish(self, timeout: float) -> None:
        """Wait for every story to end (they bound their own waits)."""
        _, late = await asyncio.wait(self.stories, timeout=timeout)
        for task in late:
            self.failures.append(f"{task.get_name()} was still running after {timeout:g} s, "
                                 f"at {waiting_at(task)}")
            task.cancel()

    # Stories -------------------------------------------------------------------------

    def signup(self, n: int, email: str | None = None) -> dict[str, Any]:
        return {"name": f"Nurtured {n}", "email": email or f"nurtured{n}@acme{n}.example",
                "company": f"Acme {n}", "team_id": self.who.sales_team_id}

    async def nurtured_lead(self, n: int, *, body: dict[str, Any] | None = None,
                            by: str = "website", key: str | None = None) -> None:
        """Signed up; every nurturing email goes out; then a manager disqualifies it."""
        lead = await self.api.ok("POST", "/leads", by, key=key or f"lead-{n}",
                                 json=body or self.signup(n))
        self.requested["lead"] += 1
        self._expect(Expected(f"lead-{lead['id']}", "lead", lead["id"], "disqualified",
                              set(NURTURING), exact_emails=True))
        await self._expect_enrolment(lead["id"])

        async def last_email_handled() -> bool:
            shown = await self.api.get(f"/leads/{lead['id']}", "admin")
            return any(e["purpose"] == "promotional_offer" and e["status"] in ("sent", "failed")
                       for e in shown["emails"])

        await until(last_email_handled, f"lead {lead['id']}: the last nurturing email")
        await self._decide(f"/leads/{lead['id']}/qualify", "manager",
                           {"qualified": False, "reason": "no project this year"},
                           key=f"disqualify-{n}", reached=("disqualified",),
                           read=f"/leads/{lead['id']}")

    async def sale(self, n: int) -> None:
        """Lead → rep → qualified → quote approved (or validated by rule) → sent → won →
        project → milestone → invoice dunned → paid → project closed."""
        lead = await self.api.ok("POST", "/leads", "website", key=f"lead-{n}", json={
            "name": f"Buyer {n}", "email": f"buyer{n}@shop{n}.example",
            "company": f"Shop {n}", "team_id": self.who.sales_team_id})
        self.requested["lead"] += 1
        lead_id = lead["id"]
        self._expect(Expected(f"lead-{lead_id}", "lead", lead_id, "won",
                              {"welcome", "rep_notified"}))
        await self._expect_enrolment(lead_id)
        await self.api.ok("POST", f"/leads/{lead_id}/events", "website", key=f"download-{n}",
                          json={"type": "content_downloaded", "content": "white_paper"})

        async def rep() -> str | None:
            owner = (await self.api.get(f"/leads/{lead_id}", "admin"))["owner_id"]
            return self.who.by_user_id.get(owner) if owner else None

        rep_name = await until(rep, f"lead {lead_id}: a rep")
        await self._decide(f"/leads/{lead_id}/qualify", rep_name,
                           {"qualified": True, "need": "a CRM", "budget": 20000},
                           key=f"qualify-{n}", reached=("qualified",),
                           read=f"/leads/{lead_id}")
        quote = await self.api.ok("POST", "/quotes", rep_name, key=f"quote-{n}", json={
            "lead_id": lead_id, "discount_pct": 25,
            "lines": [{"description": "CRM licence", "quantity": 20, "unit_price": "50"}]})
        self.requested["quote"] += 1
        quote_id = quote["id"]
        self._expect(Expected(f"quote-{quote_id}", "quote", quote_id, "won",
                              {"submission_1:sent"}))
        read = f"/quotes/{quote_id}"
        await self._decide(f"/quotes/{quote_id}/submit", rep_name, None, key=f"submit-{n}",
                           reached=("pending_approval", "validated"), read=read)
        if n % 2:  # a manager decides; otherwise the timeout rule validates it
            await self._decide(f"/quotes/{quote_id}/decision", "manager",
                               {"approve": True, "comment": "fine"}, key=f"approve-{n}",
                               reached=("validated",), read=read, refused_ok=True)

        async def validated() -> bool:
            return (await self.api.get(read, "admin"))["status"] == "validated"

        await until(validated, f"quote {quote_id}: validated")
        await self._decide(f"/quotes/{quote_id}/send", rep_name, None, key=f"send-{n}",
                           reached=("sent", "won"), read=read)
        await self._decide(f"/quotes/{quote_id}/customer-response", "website",
                           {"accepted": True}, key=f"accept-{n}", reached=("won",),
                           read=read)
        if (await self.api.get(read, "admin"))["decided_by_id"]:
            # a manager approved it, before the timeout rule: the author was told
            self.expected[f"quote-{quote_id}"].emails.add("submission_1:decided")

        async def project() -> dict[str, Any] | None:
            found = await self.api.get("/projects?scope=all&limit=500", "admin")
            return next((p for p in found if p["account_id"] == quote["account_id"]), None)

        started = await until(project, f"quote {quote_id}: its project")
        self.requested["project"] += 1
        project_id = started["id"]
        self._expect(Expected(started["process_id"], "project", project_id, "closed",
                              {"kick_off:customer", "closed:customer"}))

        async def kicked_off() -> dict[str, Any] | None:
            # Until then a milestone is refused (409: only an active project can have one
            # completed), as it would be for anyone: a worker killed at the kick-off delays it.
            shown = await self.api.get(f"/projects/{project_id}", "admin")
            return shown if shown["status"] == "active" else None

        shown = await until(kicked_off, f"project {project_id}: kicked off")
        [milestone] = shown["milestones"]
        await self.api.ok("POST", f"/projects/{project_id}/milestones/{milestone['id']}/complete",
                          "admin", key=f"milestone-{n}", json={})

        async def invoiced() -> list[dict[str, Any]]:
            return list((await self.api.get(f"/projects/{project_id}", "admin"))["invoices"])

        [invoice] = await until(invoiced, f"project {project_id}: its invoice")
        self.requested["invoice"] += 1
        await self._dun_and_pay(invoice["id"], n)

    async def invoice_by_hand(self, n: int) -> None:
        """Issued by an accountant, due today: the ladder's three emails, then paid."""
        invoice = await self.api.ok("POST", "/invoices", "accountant", key=f"invoice-{n}",
                                    json={"account_id": next(self._accounts),
                                          "lines": [{"description": "Support plan",
                                                     "amount": "1200.00"}],
                                          "due_date": datetime.now(UTC).date().isoformat(),
                                          "currency": "EUR"})
        self.requested["invoice"] += 1
        await self._dun_and_pay(invoice["id"], n)

    async def _dun_and_pay(self, invoice_id: int, n: int) -> None:
        self._expect(Expected(f"invoice-{invoice_id}", "invoice", invoice_id, "paid",
                              {*LADDER, "paid"}))
        read = f"/invoices/{invoice_id}"

        async def dunned() -> dict[str, Any] | None:
            # The customer pays the balance the last reminder states, once it has come: a
            # payment that comes before it, as the level is reached, rightly stops it.
            shown = await self.api.get(read, "accountant")
            return shown if any(e["purpose"] == LADDER[-1] and e["status"] == "sent"
                                for e in shown["emails"]) else None

        shown = await until(dunned, f"invoice {invoice_id}: its last reminder sent")
        answer = await self.api.call("POST", f"{read}/payments", "accountant",
                                     key=f"pay-{n}", json={"amount": shown["balance"],
                                                           "reference": f"wire-{n}"})
        if answer.status_code != 201:
            raise AssertionError(f"paying invoice {invoice_id}: {answer.status_code} "
                                 f"{answer.text}")

    async def ticket(self, n: int) -> None:
        """Opened by the website; routed; answered, resolved; rated, or closed by its
        window."""
        ticket = await self.api.ok("POST", "/tickets", "website", key=f"ticket-{n}", json={
            "contact_email": f"customer{n}@fjord{n}.example",
            "contact_name": f"Customer {n}", "subject": f"Export {n} is empty",
            "body": "The CSV export has no rows.", "category": "general"})
        self.requested["ticket"] += 1
        ticket_id = ticket["id"]
        self._expect(Expected(f"ticket-{ticket_id}", "ticket", ticket_id, "closed",
                              {"acknowledgement", "reply_1", "resolution_1"}))
        read = f"/tickets/{ticket_id}"

        async def agent() -> str | None:
            assignee = (await self.api.get(read, "lea"))["assignee_id"]
            return self.who.by_user_id.get(assignee) if assignee else None

        agent_name = await until(agent, f"ticket {ticket_id}: an agent")
        await self.api.ok("POST", f"{read}/messages", agent_name, key=f"answer-{n}",
                          json={"from": "agent", "body": "Which browser do you use?"})
        await self._decide(f"{read}/resolve", agent_name, {"resolution": "Fixed it."},
                           key=f"resolve-{n}", reached=("resolved", "closed"), read=read,
                           reader="lea")
        if n % 2:
            await self._decide(f"{read}/rating", "website", {"score": 5}, key=f"rate-{n}",
                               reached=("closed",), read=read, reader="lea",
                               refused_ok=True)

    async def _decide(self, path: str, who: str, body: Any, *, key: str,
                      reached: tuple[str, ...], read: str, reader: str = "admin",
                      refused_ok: bool = False) -> None:
        """A decision handed to a process. A retry after a lost answer may find it taken
        (409): fine when the object shows it; ``refused_ok``: fine when the process moved
        on otherwise (the timeout rule came first)."""
        answer = await self.api.call("POST", path, who, json=body, key=key)
        if answer.status_code in (200, 201, 202):
            return
        if answer.status_code != 409:
            raise AssertionError(f"POST {path} as {who}: {answer.status_code} {answer.text}")
        status = (await self.api.get(read, reader))["status"]
        if status not in reached and not refused_ok:
            raise AssertionError(f"POST {path} as {who}: 409 {answer.text}, and {read} is "
                                 f"{status}")


# The audit ---------------------------------------------------------------------------

MODELS: dict[str, Any] = {"lead": Lead, "quote": Quote, "project": Project,
                          "invoice": Invoice, "ticket": Ticket, "enrolment": Enrolment}


@dataclass
class Audit:
    processes: Counter[str]
    wrong: list[str]
    """Processes that did not end as expected, or whose CRM row says otherwise."""
    emails_sent: int
    emails_failed: int
    lost_emails: list[str]
    duplicated: dict[str, int]
    """Message-IDs the SMTP server accepted more than once, and how often."""
    duplicated_outside_window: list[str]
    duplicated_objects: dict[str, int]
    api_answers: Counter[str]
    findings: list[str]
    story_failures: list[str]
    pending_starts: int
    not_replayable: list[str] = field(default_factory=list)
    """Histories today's workflow code cannot replay: a worker that picks such a process up
    after a crash fails it (a nondeterminism error) and the process is stuck."""
    never_made: list[str] = field(default_factory=list)
    """Status changes and tasks in the CRM that no process's history asked for."""

    @property
    def lost(self) -> int:
        return len(self.wrong) + len(self.lost_emails)

    def summary(self, name: str, faults: str, seconds: float) -> str:
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(self.processes.items()))
        errors = sum(n for code, n in self.api_answers.items()
                     if code.isdigit() and int(code) >= 500 and code != "503")
        return (f"FAULTS {name}: {faults}; {sum(self.processes.values())} processes "
                f"({kinds}); lost {self.lost}, duplicated "
                f"{sum(self.duplicated_objects.values()) + len(self.duplicated_outside_window)}"
                f" (+{len(self.duplicated) - len(self.duplicated_outside_window)} in the "
                f"documented window); {self.emails_sent} emails sent, {self.emails_failed} "
                f"failed for good; API {sum(self.api_answers.values())} answers, "
                f"503 x{self.api_answers['503']}, other 5xx x{errors}; {seconds:.0f} s")

    def assert_clean(self, *, window_allowed: int = 0) -> None:
        problems = {
            "stories that failed": self.story_failures,
            "API findings": self.findings,
            "processes not as expected": self.wrong,
            "emails lost": self.lost_emails,
            "emails duplicated outside the documented window": self.duplicated_outside_window,
            "objects duplicated": self.duplicated_objects,
            "histories that do not replay": self.not_replayable,
            "CRM changes no process made": self.never_made,
        }
        shown = {what: items[:10] if isinstance(items, list) else items
                 for what, items in problems.items() if items}
        assert not shown, shown
        assert self.pending_starts == 0, f"{self.pending_starts} process starts still pending"
        assert len(self.duplicated) <= window_allowed, (
            f"{len(self.duplicated)} emails accepted twice, more than the faults that could "
            f"cause it ({window_allowed}): {self.duplicated}")


async def audit(stack: FaultStack, workload: Workload, client: Client, *,
                failed_ok: set[int] = frozenset(),  # type: ignore[assignment]
                timeout: float = 180) -> Audit:
    """Wait (bounded) for every process to end, then compare everything."""
    expected = workload.expected
    wrong: list[str] = []
    processes: Counter[str] = Counter()
    results: dict[str, str] = {}
    deadline = time.monotonic() + timeout

    async def result(workflow_id: str) -> None:
        handle = client.get_workflow_handle(workflow_id)
        try:
            outcome = await asyncio.wait_for(handle.result(),
                                             max(1.0, deadline - time.monotonic()))
        except TimeoutError:
            wrong.append(f"{workflow_id}: still running after {timeout:g} s: "
                         f"{await stuck(handle)}")
            return
        except Exception as error:
            wrong.append(f"{workflow_id}: {error!r}")
            return
        results[workflow_id] = outcome["status"]

    await asyncio.gather(*(result(w) for w in expected))
    listed = {w.id async for w in client.list_workflows()}
    histories = [h async for h in every_history(client)]
    not_replayable = await replayed_wrongly(histories)
    for workflow_id in sorted(listed - set(expected)):
        wrong.append(f"{workflow_id}: a process nobody asked for")
    sessions, engine = stack.sessions()
    try:
        async with db.unit_of_work(sessions) as session:
            for workflow_id, want in expected.items():
                processes[want.object_type] += 1
                row = await session.get(MODELS[want.object_type], want.object_id)
                got = results.get(workflow_id)
                if got is None:
                    continue
                if got != want.status:
                    wrong.append(f"{workflow_id}: ended {got}, expected {want.status}")
                if row is None or row.status != got:
                    wrong.append(f"{workflow_id}: the workflow says {got}, the CRM "
                                 f"{row.status if row else 'nothing'}")
            rows = list(await session.scalars(select(OutboxEmail)))
            made = {kind: await session.scalar(select(func.count()).select_from(model))
                    for kind, model in MODELS.items() if kind in workload.requested}
            pending_starts = await session.scalar(
                select(func.count(ProcessStart.id)).where(ProcessStart.started_at.is_(None)))
            written = {key for key in await session.scalars(
                select(StatusChange.idempotency_key).where(StatusChange.workflow_id.in_(listed))
                .union_all(select(Task.idempotency_key).where(
                    Task.workflow_id.in_(listed), Task.kind != UNDELIVERED_TASK)))
                if key is not None}
    finally:
        await engine.dispose()  # type: ignore[attr-defined]

    accepted = stack.smtp.by_message_id()
    lost: list[str] = []
    by_workflow: dict[str, set[str]] = {}
    for row in rows:
        by_workflow.setdefault(row.workflow_id or "", set()).add(row.purpose)
        if row.status == "sent" and not accepted[row.message_id]:
            lost.append(f"{row.idempotency_key}: marked sent, never accepted")
        elif row.status == "failed" and row.related_id not in failed_ok:
            lost.append(f"{row.idempotency_key}: failed ({row.last_error})")
        elif row.status not in ("sent", "failed"):
            lost.append(f"{row.idempotency_key}: still {row.status} ({row.last_error})")
    for workflow_id, want in expected.items():
        has = by_workflow.get(workflow_id, set())
        missing = want.emails - has
        extra = has - want.emails if want.exact_emails else set()
        if missing or extra:
            lost.append(f"{workflow_id}: emails missing {sorted(missing)}, unexpected "
                        f"{sorted(extra)}")
    known = {row.message_id: row for row in rows}
    for message_id in set(accepted) - set(known):
        lost.append(f"{message_id}: accepted by the server, in no outbox row")
    duplicated = {m: n for m, n in accepted.items() if n > 1}
    outside = [f"{m} x{n}" for m, n in duplicated.items()
               if m not in known or known[m].attempts < 2]
    return Audit(
        processes=processes, wrong=wrong,
        emails_sent=sum(r.status == "sent" for r in rows),
        emails_failed=sum(r.status == "failed" for r in rows),
        lost_emails=lost, duplicated=duplicated, duplicated_outside_window=outside,
        duplicated_objects={kind: n - workload.requested[kind] for kind, n in made.items()
                            if n is not None and n > workload.requested[kind]},
        api_answers=workload.api.answers, findings=workload.api.findings,
        story_failures=workload.failures, pending_starts=pending_starts or 0,
        not_replayable=not_replayable,
        never_made=sorted(written - writes_asked_for(histories)),
    )


async def every_history(client: Client) -> AsyncIterator[tuple[str, WorkflowHistory]]:
    """Every run's history, with its run id."""
    async for run in client.list_workflows():
        handle = client.get_workflow_handle(run.id, run_id=run.run_id)
        yield run.run_id, await handle.fetch_history()


async def replayed_wrongly(histories: list[tuple[str, WorkflowHistory]]) -> list[str]:
    """Replay every run's history with today's code, as a worker that takes a process over
    after a crash does (most runs stay cached on one worker, so the run itself may never
    have replayed): the runs that fail to, and why."""
    replayer = worker_replayer()
    failing = []
    for run_id, history in histories:
        replayed = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        if replayed.replay_failure is not None:
            failing.append(f"{history.workflow_id} ({run_id}): {replayed.replay_failure}"[:400])
    return failing


def writes_asked_for(histories: list[tuple[str, WorkflowHistory]]) -> set[str]:
    """The CRM keys of the status changes and tasks the runs' histories scheduled."""
    keys = set()
    convert = pydantic_data_converter.payload_converter
    for run_id, history in histories:
        for event in history.events:
            if not event.HasField("activity_task_scheduled_event_attributes"):
                continue
            scheduled = event.activity_task_scheduled_event_attributes
            payloads = list(scheduled.input.payloads)
            if scheduled.activity_type.name == RECORD_STATUS:
                change = convert.from_payloads(payloads, [StatusToRecord])[0]
                keys.add(f"{history.workflow_id}:status:{change.event}" if change.event else
                         f"{history.workflow_id}/{run_id}/{scheduled.activity_id}")
            elif scheduled.activity_type.name == CREATE_TASK:
                task = convert.from_payloads(payloads, [TaskToCreate])[0]
                keys.add(f"{history.workflow_id}:{task.purpose}")
    return keys


async def stuck(handle: WorkflowHandle[Any, Any]) -> str:
    """What a process still running waits for: pending activities, its last events."""
    try:
        described = await handle.describe()
        pending = [f"{a.activity_type.name} attempt {a.attempt} "
                   f"({a.last_failure.message if a.HasField('last_failure') else 'no failure'})"
                   for a in described.raw_description.pending_activities]
        events = [EventType.Name(e.event_type).removeprefix("EVENT_TYPE_")
                  async for e in handle.fetch_history_events()]
        query = await handle.query("__stack_trace")
    except Exception as error:
        return f"cannot tell ({error!r})"
    return f"pending {pending}; last events {events[-8:]}; stack {query}"


async def failed_email_tasks(stack: FaultStack, lead_id: int) -> tuple[list[OutboxEmail],
                                                                         list[Task]]:
    sessions, engine = stack.sessions()
    try:
        async with db.unit_of_work(sessions) as session:
            emails = list(await session.scalars(select(OutboxEmail).where(
                OutboxEmail.related_type == "lead", OutboxEmail.related_id == lead_id)))
            tasks = list(await session.scalars(select(Task).where(
                Task.kind == "email_failed", Task.related_id == lead_id)))
    finally:
        await engine.dispose()  # type: ignore[attr-defined]
    return emails, tasks

