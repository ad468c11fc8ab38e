"""The floor's API: a plain ASGI app (no framework), ``uvicorn bench.floor.app:app``.

Configured by ``FLOOR_DATABASE_URL``, ``FLOOR_TEMPORAL_ADDRESS`` and
``FLOOR_STEP_DELAY_SECONDS`` (a lead's nurturing pause). Every request names its caller
by a bearer token (``api_tokens``, as crmflow's); a refusal is a JSON problem naming the
rule, and changes nothing.

- ``POST /leads`` (any caller): the lead, its status history and its recorded start in one
  transaction; then its process started (search attributes with the start); then the start
  marked. A second active lead with the same email is refused by the unique index (409).
- ``POST /quotes/{id}/submit`` (the author or a manager of the team): the quote submitted
  and its start recorded, committed; then started with the update that answers its checked
  status (update-with-start: one call).
- ``POST /quotes/{id}/decision`` (a sales manager of the quote's team), ``/send`` (the
  team), ``/customer-response`` (the integration): an update; the process checks and
  applies it and answers the status the CRM now holds.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
)
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.common import WorkflowIDConflictPolicy as Conflict
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from bench.floor.flows import TASK_QUEUE, DecisionIn, FloorLead, FloorQuote, LeadIn, QuoteIn
from bench.floor.sql import Database, connect

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

PROCESS = SearchAttributeKey.for_keyword("CrmProcess")
STATUS = SearchAttributeKey.for_keyword("CrmStatus")
QUOTE_PATH = re.compile(r"^/quotes/(\d+)/(submit|decision|send|customer-response)$")
MANAGERS = ("sales_manager", "admin")


class Problem(Exception):
    def __init__(self, status: int, detail: str) -> None:
        self.status, self.detail = status, detail


class Floor:
    def __init__(self) -> None:
        self.db: Database
        self.temporal: Client
        self.step_delay = float(os.environ.get("FLOOR_STEP_DELAY_SECONDS", "86400"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        try:
            status, answer = await self._route(scope, receive)
        except Problem as problem:
            status, answer = problem.status, {"title": problem.detail, "status": problem.status}
        body = json.dumps(answer).encode()
        kind = b"application/problem+json" if status >= 400 else b"application/json"
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", kind),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.db = await connect(os.environ["FLOOR_DATABASE_URL"], pool=5)
                self.temporal = await Client.connect(os.environ["FLOOR_TEMPORAL_ADDRESS"])
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.db.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _route(self, scope: Scope, receive: Receive) -> tuple[int, Any]:
        path, method = scope["path"], scope["method"]
        if path == "/health":
            return 200, {"status": "ok"}
        if method != "POST":
            raise Problem(405, f"{method} {path}: only POST is served here")
        caller = await self._caller(scope)
        body = await _json(receive)
        if path == "/leads":
            return 201, await self.create_lead(caller, body)
        if (match := QUOTE_PATH.match(path)) is None:
            raise Problem(404, f"no such endpoint: {path}")
        quote_id, action = int(match[1]), match[2]
        if action == "submit":
            return 200, await self.submit(caller, quote_id)
        return 200, await self.decide(caller, quote_id, action, body)

    async def _caller(self, scope: Scope) -> tuple[int, str, int | None]:
        header = dict(scope["headers"]).get(b"authorization", b"").decode()
        token = header.removeprefix("Bearer ")
        row = await self.db.fetchrow(
            "SELECT u.id, u.role, u.team_id FROM api_tokens t JOIN users u ON u.id = t.user_id "
            "WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.active = $2 "
            "AND (t.expires_at IS NULL OR t.expires_at > $3)",
            hashlib.sha256(token.encode()).hexdigest(), True, self.db.now())
        if row is None:
            raise Problem(401, "a valid bearer token is required")
        return row[0], row[1], row[2]

    # Leads ----------------------------------------------------------------------------

    async def create_lead(self, caller: tuple[int, str, int | None], body: Any) -> Any:
        name, email = _text(body, "name", 200), _text(body, "email", 320)
        if "@" not in email:
            raise Problem(422, "email: not an email address")
        team_id = body.get("team_id", caller[2])
        now = self.db.now()
        try:
            async with self.db.transaction() as t:
                lead_id = await t.fetchval(
                    "INSERT INTO leads (name, email, company, source, team_id, status, "
                    "unsubscribed, created_at) VALUES ($1, $2, $3, 'website', $4, 'new', $5, $6) "
                    "RETURNING id", name, email, body.get("company"), team_id, False, now)
                workflow_id = f"floor-lead-{lead_id}"
                await t.execute(
                    "UPDATE leads SET workflow_id = $1 WHERE id = $2", workflow_id, lead_id)
                await t.execute(
                    "INSERT INTO status_changes (object_type, object_id, to_status, actor, "
                    "actor_user_id, workflow_id, changed_at, entered_at) VALUES ('lead', $1, "
                    "'new', 'user', $2, $3, $4, $4)", lead_id, caller[0], workflow_id, now)
                lead = LeadIn(lead_id, name, email, self.step_delay)
                start_id = await t.fetchval(
                    "INSERT INTO process_starts (process, workflow_id, object_type, object_id, "
                    "input, attempts, created_at) VALUES ('floor_lead', $1, 'lead', $2, $3, 0, "
                    "$4) RETURNING id", workflow_id, lead_id, json.dumps(lead.__dict__), now)
        except (asyncpg.UniqueViolationError, _sqlite_integrity()) as error:
            raise Problem(409, f"a lead with email {email} is still being followed") from error
        handle = await self._started(start_id, lambda: self.temporal.start_workflow(
            FloorLead.run, lead, id=workflow_id, task_queue=TASK_QUEUE,
            id_conflict_policy=Conflict.USE_EXISTING,
            search_attributes=attributes("floor_lead", "nurturing")))
        await self._mark(start_id, handle.result_run_id or handle.run_id or "")
        return {"id": lead_id, "name": name, "email": email, "status": "new",
                "workflow_id": workflow_id}

    # Quotes ---------------------------------------------------------------------------

    async def submit(self, caller: tuple[int, str, int | None], quote_id: int) -> Any:
        now = self.db.now()
        async with self.db.transaction() as t:
            lock = "" if self.db.sqlite else " FOR UPDATE OF q"
            row = await t.fetchrow(QUOTE_TO_SUBMIT + lock, quote_id)
            if row is None:
                raise Problem(404, f"quote {quote_id} does not exist")
            (status, lead_id, account_id, author_id, team_id, discount, author_email,
             customer_email, manager_email, total) = row
            if caller[0] != author_id and not (caller[1] in MANAGERS and caller[2] == team_id):
                raise Problem(403, "only the quote's author or a manager of its team submits it")
            if status != "draft":
                raise Problem(409, f"quote {quote_id} is {status}, not draft")
            workflow_id = f"floor-quote-{quote_id}"
            quote = QuoteIn(quote_id, lead_id, account_id, author_id, author_email, team_id,
                            manager_email or author_email, customer_email or author_email,
                            float(discount), float(total or 0) * (1 - float(discount) / 100))
            await t.execute("UPDATE quotes SET status = 'submitted', "
                            "submission = submission + 1 WHERE id = $1", quote_id)
            await t.execute(
                "INSERT INTO status_changes (object_type, object_id, from_status, to_status, "
                "actor, actor_user_id, workflow_id, changed_at, entered_at) VALUES ('quote', $1, "
                "'draft', 'submitted', 'user', $2, $3, $4, $4)",
                quote_id, caller[0], workflow_id, now)
            start_id = await t.fetchval(
                "INSERT INTO process_starts (process, workflow_id, object_type, object_id, input, "
                "attempts, created_at) VALUES ('floor_quote', $1, 'quote', $2, $3, 0, $4) "
                "RETURNING id", workflow_id, quote_id, json.dumps(quote.__dict__), now)
        start = WithStartWorkflowOperation(
            FloorQuote.run, quote, id=workflow_id, task_queue=TASK_QUEUE,
            id_conflict_policy=Conflict.USE_EXISTING,
            search_attributes=attributes("floor_quote", "submitted"))
        checked = await self._started(
            start_id, lambda: self.temporal.execute_update_with_start_workflow(
                FloorQuote.outcome, start_workflow_operation=start))
        handle = await start.workflow_handle()
        await self._mark(start_id, handle.result_run_id or handle.run_id or "")
        return {"id": quote_id, "status": checked}

    async def decide(self, caller: tuple[int, str, int | None], quote_id: int, action: str,
                     body: Any) -> Any:
        row = await self.db.fetchrow("SELECT team_id, author_id FROM quotes WHERE id = $1",
                                     quote_id)
        if row is None:
            raise Problem(404, f"quote {quote_id} does not exist")
        team_id, author_id = row
        handle = self.temporal.get_workflow_handle(f"floor-quote-{quote_id}")
        if action == "decision":
            if caller[1] not in MANAGERS or caller[2] != team_id:
                raise Problem(403, "only a sales manager of the quote's team decides")
            approve = body.get("approve")
            if not isinstance(approve, bool):
                raise Problem(422, "approve: true or false")
            call: Any = (FloorQuote.decide, DecisionIn(approve, caller[0],
                                                       str(body.get("comment") or "")))
        elif action == "send":
            if caller[0] != author_id and caller[2] != team_id:
                raise Problem(403, "only the quote's team sends it")
            call = (FloorQuote.send, caller[0])
        else:
            if caller[1] != "integration":
                raise Problem(403, "only the website answers for the customer")
            accepted = body.get("accepted")
            if not isinstance(accepted, bool):
                raise Problem(422, "accepted: true or false")
            call = (FloorQuote.answer, accepted)
        try:
            status = await handle.execute_update(*call)
        except WorkflowUpdateFailedError as error:
            cause = error.cause
            if isinstance(cause, ApplicationError) and cause.type == "NotAllowed":
                raise Problem(403, cause.message) from None
            if isinstance(cause, ApplicationError):
                raise Problem(409, cause.message) from None
            raise
        except RPCError as error:
            raise Problem(503, f"quote {quote_id}: its process does not answer ({error})") from None
        return {"id": quote_id, "status": status}

    # Starts ---------------------------------------------------------------------------

    async def _started(self, start_id: int, start: Callable[[], Awaitable[Any]]) -> Any:
        try:
            return await start()
        except RPCError as error:
            async with self.db.transaction() as t:
                await t.execute("UPDATE process_starts SET attempts = attempts + 1, "
                                "last_error = $1 WHERE id = $2", str(error), start_id)
            raise Problem(503, "saved, but its process could not start; send it again") from None

    async def _mark(self, start_id: int, run_id: str) -> None:
        async with self.db.transaction() as t:
            await t.execute("UPDATE process_starts SET started_at = $1, run_id = $2, "
                            "attempts = attempts + 1 WHERE id = $3", self.db.now(), run_id,
                            start_id)


QUOTE_TO_SUBMIT = (
    "SELECT q.status, q.lead_id, q.account_id, q.author_id, q.team_id, q.discount_pct, "
    "a.email, c.email, (SELECT m.email FROM users m WHERE m.team_id = q.team_id "
    "AND m.role = 'sales_manager' AND m.active = true ORDER BY m.id LIMIT 1), "
    "(SELECT sum(l.quantity * l.unit_price) FROM quote_lines l WHERE l.quote_id = q.id) "
    "FROM quotes q JOIN users a ON a.id = q.author_id "
    "LEFT JOIN contacts c ON c.id = q.contact_id WHERE q.id = $1")


def attributes(process: str, status: str) -> TypedSearchAttributes:
    return TypedSearchAttributes([SearchAttributePair(PROCESS, process),
                                  SearchAttributePair(STATUS, status)])


def _sqlite_integrity() -> type[Exception]:
    import sqlite3

    return sqlite3.IntegrityError


def _text(body: Any, name: str, longest: int) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > longest:
        raise Problem(422, f"{name}: a text of 1 to {longest} characters is required")
    return value.strip()


async def _json(receive: Receive) -> Any:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    raw = b"".join(chunks)
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise Problem(400, "the body is not JSON") from None
    if not isinstance(body, dict):
        raise Problem(422, "the body must be a JSON object")
    return body


app = Floor()
