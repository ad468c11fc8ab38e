"""The console's pages: my work, the approval inbox, lists and case pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from api.console.backend import Backend, Refused
from api.console.diagram import statuses, svg, transitions_of
from api.console.session import read
from api.console.views import APPROVERS, SUPERVISORS, Page, Said
from api.deps import get_state
from api.lookups import ObjectId
from workflows.registry import LEAD_TO_SALE, QUOTE_APPROVAL, SALE_TO_PROJECT, ProcessSpec

router = APIRouter(prefix="/console", include_in_schema=False)
PAGE_SIZE = 25


class SignIn(Exception):
    """No valid session: to the sign-in page."""


async def signed_in(request: Request) -> Page:
    session = read(request, get_state(request).settings)
    if session is None:
        raise SignIn
    return Page(request, session, Backend(request, session))


PageDep = Annotated[Page, Depends(signed_in)]


@router.get("", response_class=HTMLResponse)
async def my_work(page: PageDep) -> HTMLResponse:
    """Tasks due (overdue first) and what waits for my decision."""
    me = await page.backend.get("/me")
    tasks = await page.backend.get("/tasks", status="open", limit=100)
    now = datetime.now(UTC)
    for task in tasks:
        task["overdue"] = bool(task["due_at"]) and datetime.fromisoformat(task["due_at"]) < now
    approvals = await page.backend.get("/approvals") if me["role"] in APPROVERS else None
    return await page.render("my_work.html.j2", title="My work", section="work", tasks=tasks,
                             approvals=approvals)


@router.get("/approvals", response_class=HTMLResponse)
async def approvals(page: PageDep, said: Said | None = None, status_code: int = 200
                    ) -> HTMLResponse:
    """Each quote waiting for me: lines, author, history, reminders, time left."""
    items = []
    for quote in await page.backend.get("/approvals"):
        state = (await page.backend.get(f"/processes/{quote['process_id']}")).get("state") or {}
        due = state.get("decision_due")
        left = datetime.fromisoformat(due) - datetime.now(UTC) if due else None
        items.append({"quote": quote, "decision_due": due,
                      "reminders_sent": state.get("reminders_sent", 0),
                      "time_left": in_words(left) if left is not None else None})
    return await page.render("approvals.html.j2", status_code, title="Approvals",
                             section="approvals", quotes=items, said=said)


def in_words(left: timedelta) -> str:
    """Time left as people say it: '3 days 4 hours', '25 minutes', 'no time'."""
    minutes = max(int(left.total_seconds() // 60), 0)
    days, hours, minutes = minutes // 1440, minutes // 60 % 24, minutes % 60
    parts = [f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in
             ((days, "day"), (hours, "hour"), (minutes, "minute")) if n][:2]
    return " ".join(parts) or "no time"


def _list_view(kind: str, spec: ProcessSpec, heading: str, columns: list[str]) -> Any:
    async def view(page: PageDep, request: Request,
                   status: Annotated[str, Query(max_length=40)] = "",
                   mine: Annotated[str, Query(max_length=1)] = "",
                   number: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
                   ) -> HTMLResponse:
        me = await page.backend.get("/me")
        name, value = {"leads": ("owner_id", me["id"]), "quotes": ("author_id", me["id"]),
                       "projects": ("scope", "mine")}[kind]
        rows = await page.backend.get(f"/{kind}", status=status or None,
                                      **{name: value if mine else None},
                                      limit=PAGE_SIZE + 1, offset=(number - 1) * PAGE_SIZE)

        def page_url(n: int) -> str:
            return f"/console/{kind}?" + urlencode({"status": status, "mine": mine, "page": n})

        return await page.render(
            "list.html.j2", title=heading, section=kind, heading=heading, columns=columns,
            rows=[_row(kind, r) for r in rows[:PAGE_SIZE]], more=len(rows) > PAGE_SIZE,
            page=number, page_url=page_url, statuses=statuses(transitions_of(spec)),
            filters={"status": status, "mine": mine})

    return view


def _row(kind: str, row: dict[str, Any]) -> dict[str, Any]:
    if kind == "leads":
        cells = [f"Lead {row['id']}: {row['name']}", row["company"] or "", row["status"],
                 row["created_at"][:10]]
    elif kind == "projects":
        cells = [f"Project {row['id']}: {row['name']}", row["customer"] or "", row["status"],
                 f"{row['amount']} {row['currency']}"]
    else:
        cells = [f"Quote {row['id']}", row.get("customer") or "", row["status"],
                 f"{row['totals']['total']} {row['currency']}"]
    return {"href": f"/console/{kind}/{row['id']}", "cells": cells}


router.get("/leads", response_class=HTMLResponse)(
    _list_view("leads", LEAD_TO_SALE, "Leads", ["Lead", "Company", "Status", "Since"]))
router.get("/quotes", response_class=HTMLResponse)(
    _list_view("quotes", QUOTE_APPROVAL, "Quotes", ["Quote", "Customer", "Status", "Total"]))
router.get("/projects", response_class=HTMLResponse)(
    _list_view("projects", SALE_TO_PROJECT, "Projects",
               ["Project", "Customer", "Status", "Amount"]))


async def _case(page: Page, kind: str, object_id: int, spec: ProcessSpec, data: dict[str, Any],
                **context: Any) -> HTMLResponse:
    me = await page.backend.get("/me")
    assignee = "all" if me["role"] in SUPERVISORS else "me"
    tasks = await page.backend.get("/tasks", assignee=assignee, related_type=kind,
                                   related_id=object_id)
    settings = get_state(page.request).settings
    workflow_id = data.get("process_id")
    process_url = (f"{settings.temporal_ui_url}/namespaces/{settings.temporal_namespace}"
                   f"/workflows/{workflow_id}" if workflow_id else None)
    return await page.render(
        "case.html.j2", kind=kind, status=data["status"], history=data["history"],
        diagram=svg(spec, data["status"]), process_url=process_url, tasks=tasks,
        emails=data.get("emails"), **context)


@router.get("/leads/{lead_id}", response_class=HTMLResponse)
async def lead_case(page: PageDep, lead_id: ObjectId) -> HTMLResponse:
    lead = await page.backend.get(f"/leads/{lead_id}")
    facts = [f"{lead['email']}" + (f" · {lead['company']}" if lead["company"] else ""),
             f"Owner: user {lead['owner_id']}" if lead["owner_id"] else "No owner yet"]
    return await _case(page, "lead", lead_id, LEAD_TO_SALE, lead, title=f"Lead {lead_id}",
                       section="leads", heading=f"Lead {lead_id}: {lead['name']}", facts=facts,
                       actions=[])


async def quote_page(page: Page, quote_id: int, said: Said | None = None,
                     status_code: int = 200) -> HTMLResponse:
    """The quote's case page, with the actions its status offers."""
    quote = await page.backend.get(f"/quotes/{quote_id}")
    actions = []
    if quote["status"] in ("draft", "rejected"):
        actions.append({"url": f"/console/quotes/{quote_id}/submit", "label": "Submit",
                        "fields": []})
    if quote["status"] in ("pending_approval", "escalated"):
        actions += [{"url": f"/console/quotes/{quote_id}/decision", "label": "Approve",
                     "value": "approve", "fields": []}]
    if quote["status"] == "validated":
        actions.append({"url": f"/console/quotes/{quote_id}/send", "label": "Send to the "
                        "customer", "fields": []})
    facts = [f"By {quote['author_name']} · discount {quote['discount_pct']} % · "
             f"submission {quote['submission']}"]
    return await _case(page, "quote", quote_id, QUOTE_APPROVAL, quote, quote=quote,
                       title=f"Quote {quote_id}", section="quotes",
                       heading=f"Quote {quote_id} for {quote.get('customer') or '—'}",
                       facts=facts, actions=actions, said=said, status_code=status_code)


@router.get("/quotes/{quote_id}", response_class=HTMLResponse)
async def quote_case(page: PageDep, quote_id: ObjectId) -> HTMLResponse:
    return await quote_page(page, quote_id)


async def project_page(page: Page, project_id: int, said: Said | None = None,
                       status_code: int = 200) -> HTMLResponse:
    """The project's case page: its milestones, totals and the actions its status offers."""
    project = await page.backend.get(f"/projects/{project_id}")
    people = {p["user_id"]: p["name"] for p in project["participants"]}
    totals = project["totals"]
    facts = [f"Managed by {people.get(project['manager_id'], '—')} · template "
             f"{project['template']} · invoiced {project['invoicing_policy'].replace('_', ' ')}",
             f"{totals['hours']} hours · costs {totals['costs']} · invoiced "
             f"{totals['invoiced']} · paid {totals['paid']} · margin {totals['margin']} "
             f"{project['currency']}"]
    facts += [f"{m['name']}: due {m['due_on']}, {m['state']} · {people.get(m['owner_id'], '—')}"
              for m in project["milestones"]]
    actions: list[dict[str, Any]] = []
    if project["status"] == "active":
        actions += [{"url": f"/console/projects/{project_id}/milestones/{m['id']}/complete",
                     "label": f"Complete {m['name']}", "fields": []}
                    for m in project["milestones"] if m["state"] != "completed"]
    if project["status"] in ("planned", "active"):
        actions.append({"url": f"/console/projects/{project_id}/cancel", "label": "Cancel",
                        "fields": [{"name": "reason", "label": "Reason", "required": True}]})
    return await _case(page, "project", project_id, SALE_TO_PROJECT, project,
                       title=f"Project {project_id}", section="projects",
                       heading=f"Project {project_id}: {project['name']}", facts=facts,
                       actions=actions, said=said, status_code=status_code)


@router.get("/projects/{project_id}", response_class=HTMLResponse)
async def project_case(page: PageDep, project_id: ObjectId) -> HTMLResponse:
    return await project_page(page, project_id)


__all__ = ["PageDep", "Refused", "SignIn", "project_page", "quote_page", "router", "signed_in"]
