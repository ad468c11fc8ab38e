"""The console's forms: what a case page offers (an action, its fields), and posting one —
the CSRF token checked, the API called as the signed-in user, then back to the page, or the
page again with the API's refusal in its words and what was typed still there."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.console import session as sessions
from api.console.backend import Refused, form
from api.console.views import Page, Said
from api.deps import get_state

Fields = dict[str, str]
Again = Callable[[Said, int, Fields], Awaitable[Response]]
"""The page again, saying why the API refused, with the fields as they were posted."""


def field(name: str, label: str, kind: str = "text", *, required: bool = True,
          **attributes: Any) -> dict[str, Any]:
    """A control: kind is an input type, ``textarea`` or ``choice`` (radios: ``options``)."""
    return {"name": name, "label": label, "kind": kind, "required": required, **attributes}


def action(url: str, label: str, *fields: dict[str, Any], value: str | None = None,
           legend: str | None = None) -> dict[str, Any]:
    """A form posting to ``url``; a button alone when it has no fields."""
    return {"url": url, "label": label, "fields": list(fields), "value": value,
            "legend": legend or label}


def refused_csrf() -> HTMLResponse:
    return HTMLResponse("<p>This form is stale or was not sent by the console: reload the "
                        "page and try again.</p>", status_code=403)


def csrf_ok(page: Page, fields: Fields) -> bool:
    return sessions.valid_csrf(get_state(page.request).settings, page.session,
                               fields.get("csrf", ""))


async def act(request: Request, page: Page, path: str, body: Callable[[Fields], dict[str, Any]],
              back: str, again: Again) -> Response:
    """Post the form's ``body`` to the API's ``path``; on success, to ``back``."""
    fields = await form(request)
    if not csrf_ok(page, fields):
        return refused_csrf()
    try:
        await page.backend.post(path, body(fields))
    except Refused as refusal:
        return await again(Said("refused", refusal.detail), refusal.status, fields)
    return RedirectResponse(back, status_code=303)


def text(fields: Fields, name: str) -> str | None:
    """A field's text, None when left empty (the API's optional fields)."""
    return fields.get(name, "").strip() or None


def yes_no(fields: Fields, name: str) -> bool | None:
    return {"yes": True, "no": False}.get(fields.get(name, ""))
