"""The console's lists, each with the filters its people use (mine, team, status, overdue,
breaching soon) and pages. A filter is the API's own query where the API has one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.console.diagram import statuses, transitions_of
from api.console.pages import PageDep
from api.console.views import Page, when
from workflows.registry import (
    INVOICE_DUNNING,
    LEAD_TO_SALE,
    QUOTE_APPROVAL,
    SALE_TO_PROJECT,
    SUPPORT_TICKET,
    ProcessSpec,
)

router = APIRouter(prefix="/console", include_in_schema=False)
PAGE_SIZE = 25
Me = dict[str, Any]


def words(status: str) -> str:
    return status.replace("_", " ")


@dataclass(frozen=True)
class Filter:
    """A select (``options``: value, label; the first is the default) or, without options,
    a checkbox."""

    name: str
    label: str
    options: Sequence[tuple[str, str]] = ()

    def read(self, given: str) -> str:
        if self.options:
            return given if given in dict(self.options) else self.options[0][0]
        return "1" if given == "1" else ""


@dataclass(frozen=True)
class Listing:
    kind: str
    """The path, in the console and in the API: leads, quotes…"""
    heading: str
    process: ProcessSpec
    columns: Sequence[str]
    row: Callable[[dict[str, Any]], list[str]]
    query: Callable[[dict[str, str], Me], dict[str, Any]]
    """The API's query for the chosen filters (status is passed as is)."""
    filters: Sequence[Filter] = ()
    flags: Callable[[dict[str, Any]], list[str]] = lambda row: []
    defaults: Callable[[Me], dict[str, str]] = field(default=lambda me: {})


def _status(process: ProcessSpec) -> Filter:
    table = transitions_of(process)
    return Filter("status", "Status", [("", "any"), *((s, s.replace("_", " "))
                                                      for s in statuses(table))])


def _due(row: dict[str, Any]) -> list[str]:
    open_ = row["status"] not in ("paid", "written_off", "credited")
    return ["overdue"] if open_ and row["due_on"] < datetime.now(UTC).date().isoformat() else []


def _next_clock(ticket: dict[str, Any]) -> str:
    """The SLA target the ticket works towards now, as far as the list knows it."""
    if ticket["status"] in ("resolved", "closed"):
        return ""
    first = not ticket["first_responded_at"] and ticket["first_response_due"]
    name, due = (("first response", first) if first
                 else ("resolution", ticket["resolution_due"]))
    return f"{name} due {when(due)}" if due else ""


def _ticket_flags(ticket: dict[str, Any]) -> list[str]:
    if ticket["waiting_since"] and ticket["status"] == "waiting_on_customer":
        return ["paused"]
    due = (ticket["first_response_due"] if not ticket["first_responded_at"]
           else ticket["resolution_due"])
    late = due and ticket["status"] not in ("resolved", "closed") and (
        datetime.fromisoformat(due) < datetime.now(UTC))
    return ["overdue"] if late else []


def _queue_default(me: Me) -> dict[str, str]:
    return {"queue": {"support_agent": "mine", "support_lead": "team"}.get(me["role"], "all")}


MINE = Filter("mine", "Mine")
LISTINGS = {listing.kind: listing for listing in (
    Listing("leads", "Leads", LEAD_TO_SALE, ["Lead", "Company", "Status", "Since"],
            lambda r: [f"Lead {r['id']}: {r['name']}", r["company"] or "", words(r["status"]),
                       r["created_at"][:10]],
            lambda f, me: {"owner_id": me["id"] if f["mine"] else None},
            [_status(LEAD_TO_SALE), MINE]),
    Listing("quotes", "Quotes", QUOTE_APPROVAL, ["Quote", "Customer", "Status", "Total"],
            lambda r: [f"Quote {r['id']}", r.get("customer") or "", words(r["status"]),
                       f"{r['totals']['total']} {r['currency']}"],
            lambda f, me: {"author_id": me["id"] if f["mine"] else None},
            [_status(QUOTE_APPROVAL), MINE]),
    Listing("projects", "Projects", SALE_TO_PROJECT, ["Project", "Customer", "Status", "Amount"],
            lambda r: [f"Project {r['id']}: {r['name']}", r["customer"] or "", words(r["status"]),
                       f"{r['amount']} {r['currency']}"],
            lambda f, me: {"scope": f["scope"]},
            [_status(SALE_TO_PROJECT),
             Filter("scope", "Whose", [("all", "all"), ("mine", "mine"), ("team", "my team's")]),
             Filter("overdue", "With an overdue milestone")],
            flags=lambda r: ["overdue milestone"] if r.get("overdue") else []),
    Listing("invoices", "Invoices", INVOICE_DUNNING,
            ["Invoice", "Account", "Status", "Due", "Open balance"],
            lambda r: [f"Invoice {r['number']}", f"account {r['account_id']}", words(r["status"]),
                       r["due_on"], f"{r['balance']} {r['currency']}"],
            lambda f, me: {"overdue": "true" if f["overdue"] else None},
            [_status(INVOICE_DUNNING), Filter("overdue", "Overdue")], flags=_due),
    Listing("tickets", "Tickets", SUPPORT_TICKET,
            ["Ticket", "Customer", "Status", "Priority", "SLA"],
            lambda r: [f"Ticket {r['id']}: {r['subject']}",
                       r["requester_name"] or r["requester_email"], words(r["status"]),
                       r["priority"], _next_clock(r)],
            lambda f, me: {"queue": f["queue"]},
            [Filter("queue", "Queue", [("mine", "mine"), ("team", "my team's and unassigned"),
                                       ("unassigned", "unassigned"),
                                       ("breaching", "breaching within 4 hours"),
                                       ("all", "all")]),
             _status(SUPPORT_TICKET)],
            flags=_ticket_flags, defaults=_queue_default),
)}


async def _rows(page: Page, listing: Listing, chosen: dict[str, str], number: int
                ) -> tuple[list[dict[str, Any]], bool, str | None]:
    """A page of the API's list: its rows, whether more follow, and a note on the filter."""
    me = await page.me()
    query = {"status": chosen.get("status"), **listing.query(chosen, me)}
    if listing.kind == "projects" and chosen["overdue"] and not chosen["status"]:
        query["status"] = "active"
    rows = await page.backend.get(f"/{listing.kind}", **query, limit=PAGE_SIZE + 1,
                                  offset=(number - 1) * PAGE_SIZE)
    more, rows = len(rows) > PAGE_SIZE, rows[:PAGE_SIZE]
    if listing.kind == "projects" and chosen["overdue"] and rows:
        first = (number - 1) * PAGE_SIZE
        return await _with_overdue_milestones(page, rows), more, (
            f"Those with an overdue milestone among projects {first + 1} to "
            f"{first + len(rows)} of this list.")
    return rows, more, None


async def _with_overdue_milestones(page: Page, rows: list[dict[str, Any]]
                                   ) -> list[dict[str, Any]]:
    """The API has no such filter yet: each project's milestones are read (one page's)."""
    details = await asyncio.gather(*(page.backend.get(f"/projects/{r['id']}") for r in rows))
    return [{**row, "overdue": True} for row, project in zip(rows, details, strict=True)
            if any(m["state"] == "overdue" for m in project["milestones"])]


def _view(listing: Listing) -> Callable[..., Any]:
    async def view(page: PageDep, request: Request) -> HTMLResponse:
        given = request.query_params
        defaults = listing.defaults(await page.me())
        chosen = {f.name: f.read(given.get(f.name, defaults.get(f.name, ""))[:40])
                  for f in listing.filters}
        number = int(n) if (n := given.get("page", "1")).isdigit() and 0 < int(n) < 10_000 else 1
        rows, more, note = await _rows(page, listing, chosen, number)

        def page_url(n: int) -> str:
            return f"/console/{listing.kind}?" + urlencode({**chosen, "page": n})

        return await page.render(
            "list.html.j2", title=listing.heading, section=listing.kind,
            heading=listing.heading, columns=listing.columns, note=note,
            rows=[{"href": f"/console/{listing.kind}/{r['id']}", "cells": listing.row(r),
                   "flags": listing.flags(r)} for r in rows],
            more=more, page=number, page_url=page_url, filters=listing.filters,
            chosen=chosen)

    return view


for _listing in LISTINGS.values():
    router.get(f"/{_listing.kind}", response_class=HTMLResponse)(_view(_listing))
