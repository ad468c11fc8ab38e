"""Rendering console pages: the templates, the common context, a page or just its <main>."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.console.backend import Backend
from api.console.session import ConsoleSession, csrf_token
from api.deps import get_state

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True, lstrip_blocks=True,
)
SUPERVISORS = ("sales_manager", "support_lead", "admin")
APPROVERS = ("sales_manager", "admin")


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

    async def render(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        me = await self.backend.get("/me")
        counts = {"tasks": len(await self.backend.get("/tasks", status="open", limit=500)),
                  "approvals": (len(await self.backend.get("/approvals"))
                                if me["role"] in APPROVERS else None)}
        settings = get_state(self.request).settings
        base = {"me": me, "counts": counts, "csrf": csrf_token(settings, self.session),
                "sections": sections(me["role"]), "said": None}
        return render(self.request, template, status_code, **{**base, **context})


def sections(role: str) -> list[dict[str, str]]:
    """The lists in the navigation, as the role's work needs them."""
    found = []
    if role in ("sales_rep", "sales_manager", "admin"):
        found += [{"key": "leads", "href": "/console/leads", "label": "Leads"},
                  {"key": "quotes", "href": "/console/quotes", "label": "Quotes"}]
    if role in ("sales_rep", "sales_manager", "accountant", "admin"):
        found.append({"key": "projects", "href": "/console/projects", "label": "Projects"})
    return found


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
