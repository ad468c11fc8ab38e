"""My work: tasks due (overdue first), what waits for my decision, the tickets assigned to me
with their SLA clocks, and the invoices needing an accountant's action."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from api.console.pages import PageDep
from api.console.tickets import clocks
from api.console.views import ACCOUNTANTS, AGENTS, APPROVERS, Page, Said

router = APIRouter(prefix="/console", include_in_schema=False)
CLOCKS_SHOWN = 20
"""My tickets whose clocks are read from their processes (the soonest due); the rest show
their due times."""


@router.get("", response_class=HTMLResponse)
async def my_work(page: PageDep) -> HTMLResponse:
    return await my_work_page(page)


async def my_work_page(page: Page, said: Said | None = None, status_code: int = 200
                       ) -> HTMLResponse:
    role = (await page.me())["role"]
    tasks = await page.backend.get("/tasks", status="open", limit=100)
    now = datetime.now(UTC)
    for task in tasks:
        task["overdue"] = bool(task["due_at"]) and datetime.fromisoformat(task["due_at"]) < now
    tasks.sort(key=lambda t: (not t["overdue"], t["due_at"] or "9999"))
    approvals = await page.backend.get("/approvals") if role in APPROVERS else None
    tickets = await _my_tickets(page) if role in AGENTS else None
    invoices = await page.invoices_to_act_on() if role in ACCOUNTANTS else None
    return await page.render("my_work.html.j2", status_code, title="My work", section="work",
                             tasks=tasks, approvals=approvals, tickets=tickets,
                             invoices=invoices, said=said)


async def _my_tickets(page: Page) -> list[dict[str, Any]]:
    """My open tickets, the soonest due first, with the clocks their processes keep."""
    rows = await page.my_tickets()
    rows = sorted(rows, key=_next_due)
    details = await asyncio.gather(*(page.backend.get(f"/tickets/{t['id']}")
                                     for t in rows[:CLOCKS_SHOWN]))
    shown = [{**row, "clocks": clocks(detail)}
             for row, detail in zip(rows[:CLOCKS_SHOWN], details, strict=True)]
    return shown + [{**row, "clocks": None} for row in rows[CLOCKS_SHOWN:]]


def _next_due(ticket: dict[str, Any]) -> str:
    first = None if ticket["first_responded_at"] else ticket["first_response_due"]
    return first or ticket["resolution_due"] or "9999"
