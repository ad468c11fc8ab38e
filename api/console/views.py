"""Rendering console pages: the templates, the common context, a page or just its <main>."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sized
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.console.backend import Backend, Refused
from api.console.session import ConsoleSession, csrf_token
from api.deps import get_state
from workflows.roles import Role

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True, lstrip_blocks=True,
)
SUPERVISORS = ("sales_manager", "support_lead", "admin")
APPROVERS = ("sales_manager", "admin")
SALES = ("sales_rep", "sales_manager", "admin")
SUPPORT = ("support_agent", "support_lead", "admin")
SUPPORT_LEADS = ("support_lead", "admin")
ACCOUNTING = ("accountant", "admin")
STAFF = tuple(role.value for role in Role if role != Role.INTEGRATION)
AGENTS = ("support_agent", "support_lead")
"""Who is assigned tickets: My work shows theirs, the navigation counts them."""
ACCOUNTANTS = ("accountant",)
"""Who follows the invoices needing action in My work and the navigation."""
NEEDS_ACTION = ("overdue", "disputed", "in_collections")
"""The invoice statuses an accountant acts on."""


def when(value: str | datetime | None) -> str:
    """A time as people read it: 'Tue 25 Nov 14:02 UTC'."""
    if not value:
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(UTC).strftime("%a %d %b %H:%M UTC")


TEMPLATES.filters["when"] = when


@dataclass
class Said:
    """A line at the top of the page: what was done, or why it was refused."""

    kind: str
    text: str


class Page:
    """What every page of a signed-in user shows: who, the counts, the sections."""

    def __init__(self, request: Request, session: ConsoleSession, backend: Backend) -> None:
        self.request, self.session, self.backend = request, session, backend

    async def me(self) -> dict[str, Any]:
        me: dict[str, Any] = await self.backend.get("/me")
        return me

    async def my_tickets(self) -> list[dict[str, Any]]:
        """The open tickets assigned to me (the API's ``mine`` queue)."""
        return list(await self.backend.get("/tickets", queue="mine", limit=500))

    async def invoices_to_act_on(self) -> list[dict[str, Any]]:
        """Overdue, disputed and in-collections invoices, in that order."""
        found: list[dict[str, Any]] = []
        for status in NEEDS_ACTION:
            found += await self.backend.get("/invoices", status=status, limit=500)
        return found

    async def render(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        me = await self.me()
        role = me["role"]
        counts = {
            "tasks": len(await self.backend.get("/tasks", status="open", limit=500)),
            "approvals": await self._count(lambda: self.backend.get("/approvals"),
                                           role in APPROVERS),
            "tickets": await self._count(self.my_tickets, role in AGENTS),
            "invoices": await self._count(self.invoices_to_act_on, role in ACCOUNTANTS),
        }
        settings = get_state(self.request).settings
        base = {"me": me, "counts": counts, "csrf": csrf_token(settings, self.session),
                "sections": await self.sections(role, counts), "said": None}
        return render(self.request, template, status_code, **{**base, **context})

    async def _count(self, listing: Callable[[], Awaitable[Sized]], wanted: bool) -> int | None:
        """How many, for the navigation; None when the role has no such list (or the API
        refuses it: the count is left out, the page still shows)."""
        if not wanted:
            return None
        try:
            return len(await listing())
        except Refused as refusal:
            if refusal.status != 403:
                raise
            return None

    async def sections(self, role: str, counts: dict[str, int | None]) -> list[dict[str, Any]]:
        """The lists the role's work needs, those the API lets this user read, with their
        counts."""
        found = []
        for key, label, roles, counted in SECTIONS:
            path = READ_FROM.get(key, f"/{key}")
            if role in roles and (path is None or await self._readable(path)):
                found.append({"key": key, "label": label, "href": f"/console/{key}",
                              "count": counts.get(key), "counted": counted})
        return found

    async def _readable(self, path: str) -> bool:
        try:
            await self.backend.get(path, limit=1)
        except Refused as refusal:
            if refusal.status != 403:
                raise
            return False
        return True


SECTIONS = (("leads", "Leads", SALES, ""), ("quotes", "Quotes", SALES, ""),
            ("projects", "Projects", (*SALES, "accountant"), ""),
            ("invoices", "Invoices", ACCOUNTING, "need your action"),
            ("tickets", "Tickets", SUPPORT, "assigned to you"),
            ("workflows", "Workflows", STAFF, ""),
            ("simulations", "Simulations", ("admin", "sales_manager", "accountant"), ""),
            ("insights", "Insights", STAFF, ""))
"""The navigation's lists: which roles' work needs each, and what its count counts."""
READ_FROM: dict[str, str | None] = {"workflows": "/workflow-definitions", "insights": None}
"""The API list behind a section whose console name is not the API's (None: every role of
the section reads some of it)."""


def render(request: Request, template: str, status_code: int = 200, **context: Any
           ) -> HTMLResponse:
    """The whole page, or only its <main> when the page's own script asks for it."""
    compiled = TEMPLATES.get_template(template)
    if request.headers.get("x-console-part") == "main":
        html = "".join(compiled.blocks["main"](compiled.new_context(context)))
    else:
        html = compiled.render(context)
    return HTMLResponse(html, status_code=status_code,
                        headers={"Cache-Control": "no-store",
                                 "Content-Security-Policy": "default-src 'self'; "
                                                            "frame-ancestors 'none'"})
