"""The web console: server-rendered pages for the people in the processes, served by the
API itself and going through the API's own rules (see session.py and backend.py)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from api.console import (
    actions,
    files,
    insights,
    invoices,
    lists,
    pages,
    simulations,
    tickets,
    work,
    workflows,
)
from api.console.backend import Refused
from api.console.views import render


def install(app: FastAPI) -> None:
    for module in (work, lists, pages, invoices, tickets, workflows, simulations, insights,
                   files, actions):
        app.include_router(module.router)
    app.mount("/console/static", StaticFiles(directory=Path(__file__).parent / "static"),
              name="console-static")

    @app.exception_handler(pages.SignIn)
    async def to_sign_in(request: Request, _: pages.SignIn) -> RedirectResponse:
        return RedirectResponse("/console/sign-in", status_code=303)

    @app.exception_handler(Refused)
    async def refused_page(request: Request, refusal: Refused) -> Response:
        if refusal.status == 401:
            return RedirectResponse("/console/sign-in", status_code=303)
        return render(request, "refused.html.j2", refusal.status, title="Refused", me=None,
                      refresh=False, refusal=refusal)
